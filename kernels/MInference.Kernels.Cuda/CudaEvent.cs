using System.Runtime.InteropServices;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>A CUDA event, for timing regions of a stream in benchmarks.</summary>
public sealed class CudaEvent : SafeHandle
{
    private readonly CudaContext _context;

    public CudaEvent(CudaContext context)
        : base(0, ownsHandle: true)
    {
        _context = context;
        context.MakeCurrent();
        CudaException.Check(CudaDriver.EventCreate(out var cudaEvent, 0), "cuEventCreate");
        SetHandle(cudaEvent);
    }

    public override bool IsInvalid => handle == 0;

    public void Record(CudaStream stream)
    {
        _context.MakeCurrent();
        CudaException.Check(CudaDriver.EventRecord(handle, stream.Value), "cuEventRecord");
    }

    public void Synchronize() => CudaException.Check(CudaDriver.EventSynchronize(handle), "cuEventSynchronize");

    /// <summary>Milliseconds between <paramref name="start"/> and this event, both recorded and complete.</summary>
    public float ElapsedSince(CudaEvent start)
    {
        ArgumentNullException.ThrowIfNull(start);
        CudaException.Check(CudaDriver.EventElapsedTime(out var ms, start.handle, handle), "cuEventElapsedTime_v2");
        return ms;
    }

    protected override bool ReleaseHandle() =>
        CudaDriver.CtxSetCurrent(_context.Handle) == 0 && CudaDriver.EventDestroy(handle) == 0;
}
