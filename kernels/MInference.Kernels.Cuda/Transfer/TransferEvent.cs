using System.Runtime.InteropServices;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda.Transfer;

/// <summary>
/// A CUDA event that orders work between streams (timing off, which makes record and wait cheaper);
/// optionally interprocess, so another process can wait on it through an IPC handle.
/// </summary>
internal sealed class TransferEvent : SafeHandle
{
    internal const uint DisableTiming = 0x2;
    internal const uint Interprocess = 0x4;
    internal const int NotReady = 600;

    private readonly nint _contextHandle;

    internal TransferEvent(CudaContext context, bool interprocess = false)
        : base(0, ownsHandle: true)
    {
        context.MakeCurrent();
        _contextHandle = context.Handle;
        var flags = DisableTiming | (interprocess ? Interprocess : 0);
        CudaException.Check(CudaDriver.EventCreate(out var cudaEvent, flags), "cuEventCreate");
        SetHandle(cudaEvent);
    }

    /// <summary>Wraps an event opened from another process's IPC handle; destroyed with this object.</summary>
    private TransferEvent(nint contextHandle, nint opened)
        : base(0, ownsHandle: true)
    {
        _contextHandle = contextHandle;
        SetHandle(opened);
    }

    public override bool IsInvalid => handle == 0;

    internal nint Value => handle;

    /// <summary>Opens an event another process exported (cuIpcOpenEventHandle) in <paramref name="context"/>.</summary>
    internal static TransferEvent OpenIpc(CudaContext context, IpcHandle eventHandle)
    {
        context.MakeCurrent();
        CudaException.Check(CudaDriver.IpcOpenEventHandle(out var opened, eventHandle), "cuIpcOpenEventHandle");
        return new TransferEvent(context.Handle, opened);
    }

    /// <summary>Marks the point on <paramref name="stream"/> that waiters wait for.</summary>
    internal void Record(nint stream)
    {
        CudaException.Check(CudaDriver.CtxSetCurrent(_contextHandle), "cuCtxSetCurrent");
        CudaException.Check(CudaDriver.EventRecord(handle, stream), "cuEventRecord");
    }

    /// <summary>Work queued on <paramref name="stream"/> after this call starts only once the event completed; the host does not wait.</summary>
    internal void MakeStreamWait(CudaContext streamContext, nint stream)
    {
        streamContext.MakeCurrent();
        CudaException.Check(CudaDriver.StreamWaitEvent(stream, handle, 0), "cuStreamWaitEvent");
    }

    /// <summary>True once the work before the recorded point has finished (never blocks).</summary>
    internal bool IsComplete()
    {
        CudaException.Check(CudaDriver.CtxSetCurrent(_contextHandle), "cuCtxSetCurrent");
        var result = CudaDriver.EventQuery(handle);
        if (result == NotReady)
        {
            return false;
        }

        CudaException.Check(result, "cuEventQuery");
        return true;
    }

    internal void Synchronize()
    {
        CudaException.Check(CudaDriver.CtxSetCurrent(_contextHandle), "cuCtxSetCurrent");
        CudaException.Check(CudaDriver.EventSynchronize(handle), "cuEventSynchronize");
    }

    internal IpcHandle ExportIpc()
    {
        CudaException.Check(CudaDriver.CtxSetCurrent(_contextHandle), "cuCtxSetCurrent");
        CudaException.Check(CudaDriver.IpcGetEventHandle(out var exported, handle), "cuIpcGetEventHandle");
        return exported;
    }

    protected override bool ReleaseHandle() =>
        CudaDriver.CtxSetCurrent(_contextHandle) == 0 && CudaDriver.EventDestroy(handle) == 0;
}
