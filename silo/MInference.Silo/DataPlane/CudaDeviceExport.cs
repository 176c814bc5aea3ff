using MInference.DataPlane;
using MInference.Kernels.Cuda.Transfer;

namespace MInference.Silo.DataPlane;

/// <summary>A CUDA IPC export as the data plane parks it: the encoded descriptor, and the export freed with the payload.</summary>
internal sealed class CudaDeviceExport(CudaIpcExport export) : IDeviceExport
{
    private readonly byte[] _descriptor = export.Descriptor.Encode();
    private int _disposed;

    public ReadOnlyMemory<byte> Descriptor => _descriptor;

    /// <summary>Frees the exported buffer once; a second call (an owner's cleanup after the store's) does nothing.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            export.Dispose();
        }
    }
}
