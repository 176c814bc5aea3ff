using System.Collections.Concurrent;
using MInference.Kernels.Backends;
using MInference.Kernels.Cuda;
using MInference.Kernels.Cuda.Transfer;
using MInference.Shared.Contracts;
using MInference.Shared.Models;

namespace MInference.Silo.DataPlane;

/// <summary>
/// The data plane within one silo: a registry of parked tensors. Taking onto the producer's own
/// backend hands the tensor over without a copy; from one CUDA backend onto another it stays on the GPU
/// (<see cref="DeviceHandOff"/>: a device or peer copy on a copy stream, ordered by events); between a
/// CPU and a GPU backend it goes through host memory. Tickets from other silos are redeemed through
/// <see cref="SiloDataPlane"/>, not here.
/// </summary>
public sealed class InProcessActivationChannel(string siloName) : IActivationChannel, IDisposable
{
    public string SiloName => siloName;

    private readonly ConcurrentDictionary<Guid, Parked> _parked = new();
    private readonly ConcurrentDictionary<CudaBackend, Lazy<DeviceHandOff>> _handOffs = new(ReferenceEqualityComparer.Instance);
    private long _deviceHandOffs;
    private long _hostHandOffs;

    public int PendingCount => _parked.Count;

    /// <summary>Tensors taken onto another CUDA backend without leaving the GPU.</summary>
    public long DeviceHandOffs => Interlocked.Read(ref _deviceHandOffs);

    /// <summary>Tensors taken onto another backend through host memory (CPU on either side).</summary>
    public long HostHandOffs => Interlocked.Read(ref _hostHandOffs);

    public ActivationTicket Publish(string jobId, int chunkIndex, IDeviceTensor hiddenStates, IComputeBackend backend)
    {
        ArgumentNullException.ThrowIfNull(hiddenStates);
        ArgumentNullException.ThrowIfNull(backend);
        var ticket = new ActivationTicket(
            Guid.NewGuid(),
            jobId,
            chunkIndex,
            hiddenStates.Rows,
            hiddenStates.Columns,
            hiddenStates.DType.ToString(),
            hiddenStates.Rows * hiddenStates.Columns * hiddenStates.DType.SizeInBytes(),
            siloName);
        _parked[ticket.TransferId] = new Parked(ticket, hiddenStates, backend);
        return ticket;
    }

    public IDeviceTensor Take(ActivationTicket ticket, IComputeBackend target)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        ArgumentNullException.ThrowIfNull(target);
        if (!string.Equals(ticket.SourceSilo, siloName, StringComparison.Ordinal))
        {
            throw new TransferFailedException(
                $"ticket {ticket.TransferId} of job '{ticket.JobId}' is parked on silo '{ticket.SourceSilo}', but this is '{siloName}': it must be pulled through the TCP data plane",
                isRetryable: false);
        }

        if (!_parked.TryRemove(ticket.TransferId, out var parked))
        {
            throw new TransferFailedException(
                $"ticket {ticket.TransferId} of job '{ticket.JobId}' chunk {ticket.ChunkIndex} is unknown: already taken or released",
                isRetryable: false);
        }

        if (ReferenceEquals(parked.Backend, target))
        {
            return parked.Tensor;
        }

        if (parked.Backend is CudaBackend source && target is CudaBackend device)
        {
            var handOff = _handOffs.GetOrAdd(device, d => new Lazy<DeviceHandOff>(() => new DeviceHandOff(d))).Value;
            try
            {
                var moved = handOff.Take(source, parked.Tensor);
                Interlocked.Increment(ref _deviceHandOffs);
                return moved;
            }
            catch
            {
                parked.Tensor.Dispose();
                throw;
            }
        }

        Interlocked.Increment(ref _hostHandOffs);
        using (parked.Tensor)
        {
            var host = new float[parked.Tensor.Rows * parked.Tensor.Columns];
            parked.Backend.Download(parked.Tensor, host);
            return target.Upload(host, parked.Tensor.Rows, parked.Tensor.Columns);
        }
    }

    public int ReleaseJob(string jobId)
    {
        var released = 0;
        foreach (var (id, parked) in _parked)
        {
            if (string.Equals(parked.Ticket.JobId, jobId, StringComparison.Ordinal) && _parked.TryRemove(id, out var removed))
            {
                removed.Tensor.Dispose();
                released++;
            }
        }

        return released;
    }

    /// <summary>Waits for the device hand-offs still copying and frees their sources (before backends close).</summary>
    public void FlushDeviceHandOffs()
    {
        foreach (var handOff in _handOffs.Values)
        {
            if (handOff.IsValueCreated)
            {
                handOff.Value.Flush();
            }
        }
    }

    public void Dispose()
    {
        foreach (var handOff in _handOffs.Values)
        {
            if (handOff.IsValueCreated)
            {
                handOff.Value.Dispose();
            }
        }

        _handOffs.Clear();
        foreach (var id in _parked.Keys)
        {
            if (_parked.TryRemove(id, out var parked))
            {
                parked.Tensor.Dispose();
            }
        }
    }

    private sealed record Parked(ActivationTicket Ticket, IDeviceTensor Tensor, IComputeBackend Backend);
}
