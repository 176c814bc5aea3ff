using MInference.Kernels.Backends;
using MInference.Kernels.Cuda.Interop;
using MInference.Shared.Models;

namespace MInference.Kernels.Cuda.Transfer;

/// <summary>
/// Hands activations produced by CUDA backends of this process to one target backend without leaving
/// the GPU. The copy runs on a dedicated copy stream of the target device, ordered by events: it starts
/// when the producer's stream has written the tensor, and the target's compute stream waits for it only
/// when it reaches the next op, so the copy overlaps whatever both streams already have queued and the
/// host never blocks. Peer access is enabled once per device pair where the driver allows it; without it
/// the copy is staged through pinned host memory, in buffers kept in a small pool (pinning is slower than
/// the copy). Source tensors are freed, and staging buffers go back to the pool, once their copy finished
/// (checked without blocking on each hand-off and on dispose).
/// </summary>
public sealed class DeviceHandOff : IDisposable
{
    private readonly CudaBackend _target;
    private readonly CudaContext _context;
    private readonly CudaStream _copyStream;
    private readonly Lock _lock = new();
    private readonly Queue<InFlight> _inFlight = new();
    private readonly Dictionary<nint, HandOffRoute> _routes = [];
    private readonly long[] _transfers = new long[Enum.GetValues<HandOffRoute>().Length];
    private readonly StagingBufferPool<PinnedHostBuffer> _staging;
    private long _copiedBytes;
    private bool _disposed;

    public DeviceHandOff(CudaBackend target)
    {
        ArgumentNullException.ThrowIfNull(target);
        _target = target;
        // Its own reference on the target's primary context, so the copy stream outlives the backend's dispose order.
        _context = new CudaContext(target.Context.Device.Ordinal);
        _staging = new StagingBufferPool<PinnedHostBuffer>(bytes => new PinnedHostBuffer(_context, bytes), buffer => buffer.Bytes, MaxIdleStagingBuffers, MaxIdleStagingBytes);
        try
        {
            _copyStream = new CudaStream(_context);
        }
        catch
        {
            _context.Dispose();
            throw;
        }
    }

    /// <summary>Idle pinned staging buffers kept for the next host-staged hand-off: a pipeline keeps a few chunks in flight.</summary>
    public const int MaxIdleStagingBuffers = 4;

    /// <summary>Pinned host memory kept idle at most (pinned pages cannot be swapped, so the pool stays small).</summary>
    public const long MaxIdleStagingBytes = 1L << 30;

    /// <summary>The backend tensors are handed to.</summary>
    public CudaBackend Target => _target;

    /// <summary>Test hook: take <see cref="HandOffRoute.HostStaged"/> from every other backend, as if neither the device nor a peer could be reached.</summary>
    internal bool ForceHostStaging { get; set; }

    /// <summary>Pinned staging buffers allocated so far (host-staged hand-offs that found no idle buffer to reuse).</summary>
    public long StagingAllocations => _staging.Allocations;

    /// <summary>Host-staged hand-offs that reused a pooled staging buffer.</summary>
    public long StagingReuses => _staging.Reuses;

    /// <summary>Bytes copied on the device so far (ownership hand-offs copy none).</summary>
    public long CopiedBytes => Interlocked.Read(ref _copiedBytes);

    /// <summary>Hand-offs so far that took <paramref name="route"/>.</summary>
    public long Transfers(HandOffRoute route) => Interlocked.Read(ref _transfers[(int)route]);

    /// <summary>Copies still running (their source tensors not yet freed).</summary>
    public int InFlightCount
    {
        get
        {
            lock (_lock)
            {
                return _inFlight.Count;
            }
        }
    }

    /// <summary>The route a tensor of <paramref name="source"/> takes to the target (enables peer access on first use).</summary>
    public HandOffRoute RouteFrom(CudaBackend source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (ReferenceEquals(source, _target))
        {
            return HandOffRoute.Ownership;
        }

        if (ForceHostStaging)
        {
            return HandOffRoute.HostStaged;
        }

        if (source.Context.Handle == _target.Context.Handle)
        {
            return HandOffRoute.SameDevice;
        }

        lock (_lock)
        {
            if (!_routes.TryGetValue(source.Context.Handle, out var route))
            {
                route = EnablePeerAccess(source);
                _routes[source.Context.Handle] = route;
            }

            return route;
        }
    }

    /// <summary>
    /// Takes <paramref name="tensor"/> (ownership passes here) from <paramref name="source"/> and returns it
    /// as a tensor of the target backend, readable by the target's next op. The call returns once the copy
    /// is queued.
    /// </summary>
    public IDeviceTensor Take(CudaBackend source, IDeviceTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(source);
        var cuda = Bf16(tensor);
        if (ReferenceEquals(source, _target))
        {
            Interlocked.Increment(ref _transfers[(int)HandOffRoute.Ownership]);
            return tensor;
        }

        var destination = (CudaTensor)_target.Allocate(cuda.Rows, cuda.Columns);
        try
        {
            CopyInto(source, cuda, destination);
            return destination;
        }
        catch
        {
            destination.Dispose();
            throw;
        }
    }

    /// <summary>Queues the copy of <paramref name="tensor"/> (ownership passes here) into <paramref name="destination"/> of the target backend.</summary>
    internal void CopyInto(CudaBackend source, CudaTensor tensor, CudaTensor destination)
    {
        if (destination.Rows != tensor.Rows || destination.Columns != tensor.Columns || destination.DType != tensor.DType)
        {
            throw new ArgumentException($"destination {destination} does not match source {tensor}", nameof(destination));
        }

        var route = RouteFrom(source);
        if (route == HandOffRoute.Ownership)
        {
            throw new ArgumentException("source is the target backend: hand the tensor over with Take instead of copying it", nameof(source));
        }

        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            RetireFinished();
            var bytes = tensor.Bytes;
            PinnedHostBuffer? staging = null;
            var ready = new TransferEvent(source.Context);
            var done = new TransferEvent(_context);
            try
            {
                if (route == HandOffRoute.HostStaged)
                {
                    // The download runs on the producer's stream (so after the producing op); the upload waits for it.
                    staging = _staging.Rent(Math.Max(bytes, 1));
                    source.Context.MakeCurrent();
                    unsafe
                    {
                        CudaException.Check(CudaDriver.MemcpyDtoHAsync((void*)staging.DangerousGetHandle(), tensor.Pointer, (nuint)bytes, source.Stream.Value), "cuMemcpyDtoHAsync_v2 (staged hand-off)");
                    }
                }

                ready.Record(source.Stream.Value);
                ready.MakeStreamWait(_context, _copyStream.Value);
                switch (route)
                {
                    case HandOffRoute.SameDevice:
                        CudaException.Check(CudaDriver.MemcpyDtoDAsync(destination.Pointer, tensor.Pointer, (nuint)bytes, _copyStream.Value), "cuMemcpyDtoDAsync_v2 (hand-off)");
                        break;
                    case HandOffRoute.Peer:
                        CudaException.Check(
                            CudaDriver.MemcpyPeerAsync(destination.Pointer, _target.Context.Handle, tensor.Pointer, source.Context.Handle, (nuint)bytes, _copyStream.Value),
                            "cuMemcpyPeerAsync (hand-off)");
                        break;
                    case HandOffRoute.HostStaged:
                        unsafe
                        {
                            CudaException.Check(CudaDriver.MemcpyHtoDAsync(destination.Pointer, (void*)staging!.DangerousGetHandle(), (nuint)bytes, _copyStream.Value), "cuMemcpyHtoDAsync_v2 (staged hand-off)");
                        }

                        break;
                    default:
                        throw new InvalidOperationException($"route {route} copies nothing");
                }

                done.Record(_copyStream.Value);
                done.MakeStreamWait(_target.Context, _target.Stream.Value);
            }
            catch
            {
                // Nothing may be freed while a queued copy could still touch it.
                _copyStream.Synchronize();
                source.Stream.Synchronize();
                ready.Dispose();
                done.Dispose();
                if (staging is not null)
                {
                    _staging.Return(staging);
                }

                throw;
            }

            _inFlight.Enqueue(new InFlight(done, ready, tensor, staging, _staging));
            Interlocked.Add(ref _copiedBytes, bytes);
            Interlocked.Increment(ref _transfers[(int)route]);
        }
    }

    /// <summary>Waits for every queued copy and frees its source tensor.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            _copyStream.Synchronize();
            RetireFinished();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            try
            {
                _copyStream.Synchronize();
            }
            finally
            {
                while (_inFlight.TryDequeue(out var copy))
                {
                    copy.Dispose();
                }

                _staging.Dispose();
                _copyStream.Dispose();
                _context.Dispose();
            }
        }
    }

    private void RetireFinished()
    {
        while (_inFlight.TryPeek(out var copy) && copy.Done.IsComplete())
        {
            _inFlight.Dequeue().Dispose();
        }
    }

    /// <summary>Peer when the driver says the target can reach the source's memory (enabled here, once); staged otherwise.</summary>
    private HandOffRoute EnablePeerAccess(CudaBackend source)
    {
        CudaException.Check(CudaDriver.DeviceCanAccessPeer(out var canAccess, _target.Context.DeviceHandle, source.Context.DeviceHandle), "cuDeviceCanAccessPeer");
        if (canAccess == 0)
        {
            return HandOffRoute.HostStaged;
        }

        _context.MakeCurrent();
        var result = CudaDriver.CtxEnablePeerAccess(source.Context.Handle, 0);
        if (result != 0 && result != PeerAccessAlreadyEnabled)
        {
            CudaException.Check(result, $"cuCtxEnablePeerAccess(device {source.Context.Device.Ordinal} from device {_target.Context.Device.Ordinal})");
        }

        return HandOffRoute.Peer;
    }

    private const int PeerAccessAlreadyEnabled = 704;

    private static CudaTensor Bf16(IDeviceTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return tensor is CudaTensor { DType: TensorDType.BFloat16 } cuda
            ? cuda
            : throw new ArgumentException($"hand-off moves bf16 tensors of a CUDA backend, got {tensor}", nameof(tensor));
    }

    private sealed record InFlight(TransferEvent Done, TransferEvent Ready, CudaTensor Source, PinnedHostBuffer? Staging, StagingBufferPool<PinnedHostBuffer> Pool) : IDisposable
    {
        public void Dispose()
        {
            Source.Dispose();
            if (Staging is not null)
            {
                Pool.Return(Staging);
            }

            Ready.Dispose();
            Done.Dispose();
        }
    }
}
