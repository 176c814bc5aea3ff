using System.Runtime.InteropServices;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>Page-locked host memory (cuMemAllocHost): copies from it run asynchronously at full PCIe speed.</summary>
public sealed unsafe class PinnedHostBuffer : SafeHandle
{
    private readonly CudaContext _context;

    public PinnedHostBuffer(CudaContext context, long bytes)
        : base(0, ownsHandle: true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        _context = context;
        context.MakeCurrent();
        CudaException.Check(CudaDriver.MemAllocHost(out var pointer, (nuint)bytes), $"cuMemAllocHost_v2({bytes} bytes)");
        SetHandle(pointer);
        Bytes = bytes;
    }

    public long Bytes { get; }

    public override bool IsInvalid => handle == 0;

    public Span<T> AsSpan<T>()
        where T : unmanaged => new((void*)handle, checked((int)(Bytes / sizeof(T))));

    protected override bool ReleaseHandle() =>
        CudaDriver.CtxSetCurrent(_context.Handle) == 0 && CudaDriver.MemFreeHost(handle) == 0;
}
