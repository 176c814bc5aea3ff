using MInference.Kernels.Backends;
using MInference.Kernels.Cuda.Interop;
using MInference.Shared.Models;

namespace MInference.Kernels.Cuda.Transfer;

/// <summary>
/// An activation offered to another process on this host through CUDA IPC. The tensor is copied (on the
/// producer's stream, device to device) into a buffer of its own, since an IPC handle names a whole
/// cuMemAlloc block, and an interprocess event marks the copy done so the receiver waits on the GPU, not
/// the host. Keep the export alive until the receiver acknowledged its copy; dispose then frees the buffer.
/// </summary>
public sealed class CudaIpcExport : IDisposable
{
    private readonly DeviceBuffer _buffer;
    private readonly TransferEvent _written;

    private CudaIpcExport(DeviceBuffer buffer, TransferEvent written, CudaIpcDescriptor descriptor)
    {
        _buffer = buffer;
        _written = written;
        Descriptor = descriptor;
    }

    /// <summary>Handles and shape for the receiver.</summary>
    public CudaIpcDescriptor Descriptor { get; }

    /// <summary>Exports a copy of <paramref name="tensor"/> (a bf16 tensor of <paramref name="source"/>, which the caller keeps).</summary>
    public static CudaIpcExport Create(CudaBackend source, IDeviceTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (tensor is not CudaTensor { DType: TensorDType.BFloat16 } cuda)
        {
            throw new ArgumentException($"CUDA IPC exports bf16 tensors of a CUDA backend, got {tensor}", nameof(tensor));
        }

        var buffer = source.Context.Allocate(cuda.Bytes);
        TransferEvent? written = null;
        try
        {
            CudaException.Check(CudaDriver.MemcpyDtoDAsync(buffer.Pointer, cuda.Pointer, (nuint)cuda.Bytes, source.Stream.Value), "cuMemcpyDtoDAsync_v2 (IPC export)");
            written = new TransferEvent(source.Context, interprocess: true);
            written.Record(source.Stream.Value);
            CudaException.Check(CudaDriver.IpcGetMemHandle(out var memory, buffer.Pointer), "cuIpcGetMemHandle");
            var eventHandle = written.ExportIpc();
            var descriptor = new CudaIpcDescriptor(
                ((ReadOnlySpan<byte>)memory).ToArray(),
                ((ReadOnlySpan<byte>)eventHandle).ToArray(),
                cuda.Rows,
                cuda.Columns,
                Environment.ProcessId);
            return new CudaIpcExport(buffer, written, descriptor);
        }
        catch
        {
            source.Stream.Synchronize();
            written?.Dispose();
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>Frees the exported buffer: only after the receiver acknowledged (or will never come).</summary>
    public void Dispose()
    {
        // A receiver that never came must not find a freed buffer still being written.
        _written.Synchronize();
        _written.Dispose();
        _buffer.Dispose();
    }
}
