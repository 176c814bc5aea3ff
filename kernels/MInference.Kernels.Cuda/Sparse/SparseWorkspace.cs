namespace MInference.Kernels.Cuda;

/// <summary>
/// Named device buffers the GPU index building reuses from call to call (scores, selections, the
/// converted index), grown on demand. Growing synchronises the stream first, since queued work may
/// still read the old buffer; a buffer's contents belong to the caller until its next request.
/// </summary>
internal sealed class SparseWorkspace(CudaContext context, CudaStream stream) : IDisposable
{
    private readonly Dictionary<string, DeviceBuffer> _buffers = [];

    /// <summary>Bytes held by all buffers (for benchmark reports).</summary>
    public long Bytes => _buffers.Values.Sum(b => b.Bytes);

    /// <summary>A device buffer of at least <paramref name="bytes"/> under <paramref name="name"/>.</summary>
    public ulong Get(string name, long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (_buffers.TryGetValue(name, out var buffer) && buffer.Bytes >= bytes)
        {
            return buffer.Pointer;
        }

        if (buffer is not null)
        {
            stream.Synchronize();
            buffer.Dispose();
            _buffers.Remove(name);
        }

        // A quarter more than asked, so slowly growing lengths don't reallocate every call.
        var size = Math.Max(bytes + (bytes / 4), 4096);
        buffer = context.Allocate(size);
        _buffers[name] = buffer;
        return buffer.Pointer;
    }

    public void Dispose()
    {
        foreach (var buffer in _buffers.Values)
        {
            buffer.Dispose();
        }

        _buffers.Clear();
    }
}
