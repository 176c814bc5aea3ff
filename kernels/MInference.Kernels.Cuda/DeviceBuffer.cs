using System.Runtime.InteropServices;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>Owns one cuMemAlloc block; freed (and un-accounted) on dispose or finalisation.</summary>
public sealed class DeviceBuffer : SafeHandle
{
    private readonly CudaContext _context;

    internal DeviceBuffer(CudaContext context, ulong pointer, long bytes)
        : base(0, ownsHandle: true)
    {
        _context = context;
        Bytes = bytes;
        SetHandle((nint)pointer);
    }

    public long Bytes { get; }

    /// <summary>The device address (CUdeviceptr).</summary>
    public ulong Pointer => (ulong)handle;

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        // The finaliser thread has no current context; cuMemFree needs one.
        var ok = CudaDriver.CtxSetCurrent(_context.Handle) == 0 && CudaDriver.MemFree((ulong)handle) == 0;
        _context.Released(Bytes);
        return ok;
    }
}
