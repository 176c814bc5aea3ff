using MInference.Kernels.Backends;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda.Transfer;

/// <summary>The receiving side of CUDA IPC: copies an activation another process exported onto a backend of this one.</summary>
public static class CudaIpcImport
{
    /// <summary>cuIpcOpenMemHandle flag: map the exporter's device into this context even without peer access enabled.</summary>
    internal const uint LazyEnablePeerAccess = 0x1;

    /// <summary>
    /// Opens the exporter's buffer, copies it into a new tensor of <paramref name="target"/> after the
    /// exporter's event, waits for that copy and closes the handles again. When this returns the exporter
    /// may free its buffer: acknowledge then.
    /// </summary>
    /// <exception cref="InvalidOperationException">The descriptor comes from this very process (CUDA cannot open those: hand the tensor over in process).</exception>
    public static IDeviceTensor CopyOut(CudaBackend target, CudaIpcDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(descriptor);
        descriptor.Validate();
        if (descriptor.ExporterProcessId == Environment.ProcessId)
        {
            throw new InvalidOperationException(
                $"the CUDA IPC descriptor was exported by this process ({Environment.ProcessId}); CUDA opens IPC handles only in other processes, so the hand-off must stay in process");
        }

        IpcHandle memory = default;
        IpcHandle written = default;
        descriptor.MemoryHandle.CopyTo((Span<byte>)memory);
        descriptor.EventHandle.CopyTo((Span<byte>)written);
        var tensor = (CudaTensor)target.Allocate(descriptor.Rows, descriptor.Columns);
        try
        {
            using var exporterDone = TransferEvent.OpenIpc(target.Context, written);
            exporterDone.MakeStreamWait(target.Context, target.Stream.Value);
            target.Context.MakeCurrent();
            CudaException.Check(CudaDriver.IpcOpenMemHandle(out var mapped, memory, LazyEnablePeerAccess), "cuIpcOpenMemHandle_v2");
            try
            {
                CudaException.Check(CudaDriver.MemcpyDtoDAsync(tensor.Pointer, mapped, (nuint)descriptor.ByteLength, target.Stream.Value), "cuMemcpyDtoDAsync_v2 (IPC import)");

                // The mapping must outlive the copy; after this the exporter may free its buffer.
                target.Stream.Synchronize();
            }
            finally
            {
                CudaException.Check(CudaDriver.IpcCloseMemHandle(mapped), "cuIpcCloseMemHandle");
            }

            return tensor;
        }
        catch
        {
            target.Stream.Synchronize();
            tensor.Dispose();
            throw;
        }
    }
}
