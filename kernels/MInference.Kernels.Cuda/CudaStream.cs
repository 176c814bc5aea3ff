using System.Runtime.InteropServices;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>A CUDA stream; work on it runs in issue order.</summary>
public sealed class CudaStream : SafeHandle
{
    private readonly CudaContext _context;

    public CudaStream(CudaContext context)
        : base(0, ownsHandle: true)
    {
        _context = context;
        context.MakeCurrent();
        CudaException.Check(CudaDriver.StreamCreate(out var stream, 0), "cuStreamCreate");
        SetHandle(stream);
    }

    public override bool IsInvalid => handle == 0;

    internal nint Value => handle;

    public void Synchronize()
    {
        _context.MakeCurrent();
        CudaException.Check(CudaDriver.StreamSynchronize(handle), "cuStreamSynchronize");
    }

    protected override bool ReleaseHandle() =>
        CudaDriver.CtxSetCurrent(_context.Handle) == 0 && CudaDriver.StreamDestroy(handle) == 0;
}
