namespace MInference.Kernels.Cuda.Interop;

/// <summary>A device allocation the GPU could not serve; says what was asked and what was free.</summary>
public sealed class CudaOutOfMemoryException : CudaException
{
    public CudaOutOfMemoryException()
    {
    }

    public CudaOutOfMemoryException(string message)
        : base(message)
    {
    }

    public CudaOutOfMemoryException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public CudaOutOfMemoryException(long requestedBytes, long freeBytes, long totalBytes, long allocatedByProcess)
        : base($"GPU out of memory: requested {Format(requestedBytes)}, {Format(freeBytes)} free of {Format(totalBytes)} " +
               $"({Format(allocatedByProcess)} held by this backend)")
    {
        RequestedBytes = requestedBytes;
        FreeBytes = freeBytes;
        TotalBytes = totalBytes;
    }

    public long RequestedBytes { get; }

    public long FreeBytes { get; }

    public long TotalBytes { get; }

    private static string Format(long bytes) => $"{bytes / (1024.0 * 1024 * 1024):F2} GiB ({bytes} bytes)";
}
