using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>
/// One device's primary context (shared with cuBLAS, which uses the runtime API and so the primary
/// context too) plus this process's device-memory accounting. Driver calls need the context current
/// on the calling thread; <see cref="MakeCurrent"/> is cheap, so every entry point calls it.
/// </summary>
public sealed class CudaContext : IDisposable
{
    private long _allocatedBytes;
    private long _peakAllocatedBytes;
    private bool _disposed;

    public CudaContext(int ordinal)
    {
        Device = CudaDevice.Describe(ordinal);
        CudaException.Check(CudaDriver.DeviceGet(out var device, ordinal), "cuDeviceGet");
        DeviceHandle = device;
        CudaException.Check(CudaDriver.DevicePrimaryCtxRetain(out var context, device), "cuDevicePrimaryCtxRetain");
        Handle = context;
        MakeCurrent();
    }

    public CudaDeviceInfo Device { get; }

    internal int DeviceHandle { get; }

    internal nint Handle { get; }

    /// <summary>Bytes of device memory this process holds through <see cref="Allocate"/>.</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocatedBytes);

    /// <summary>The most <see cref="AllocatedBytes"/> has been since the context opened or <see cref="ResetPeak"/>.</summary>
    public long PeakAllocatedBytes => Interlocked.Read(ref _peakAllocatedBytes);

    /// <summary>Starts a new peak from what is allocated now (benchmarks measure one phase at a time).</summary>
    public void ResetPeak() => Interlocked.Exchange(ref _peakAllocatedBytes, AllocatedBytes);

    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CudaException.Check(CudaDriver.CtxSetCurrent(Handle), "cuCtxSetCurrent");
    }

    /// <summary>(free, total) bytes as the driver sees them now.</summary>
    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        CudaException.Check(CudaDriver.MemGetInfo(out var free, out var total), "cuMemGetInfo_v2");
        return ((long)free, (long)total);
    }

    /// <summary>Allocates device memory; on failure says how much was asked and how much is free.</summary>
    public DeviceBuffer Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        MakeCurrent();
        var size = Math.Max(bytes, 1);
        var result = CudaDriver.MemAlloc(out var pointer, (nuint)size);
        if (result == CudaException.OutOfMemory)
        {
            var (free, total) = MemoryInfo();
            throw new CudaOutOfMemoryException(bytes, free, total, AllocatedBytes);
        }

        CudaException.Check(result, $"cuMemAlloc_v2({bytes} bytes)");
        var now = Interlocked.Add(ref _allocatedBytes, size);
        long peak;
        while (now > (peak = Interlocked.Read(ref _peakAllocatedBytes)) && Interlocked.CompareExchange(ref _peakAllocatedBytes, now, peak) != peak)
        {
        }
        return new DeviceBuffer(this, pointer, size);
    }

    internal void Released(long bytes) => Interlocked.Add(ref _allocatedBytes, -bytes);

    public void Synchronize()
    {
        MakeCurrent();
        CudaException.Check(CudaDriver.CtxSynchronize(), "cuCtxSynchronize");
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        CudaException.Check(CudaDriver.DevicePrimaryCtxRelease(DeviceHandle), "cuDevicePrimaryCtxRelease_v2");
    }
}
