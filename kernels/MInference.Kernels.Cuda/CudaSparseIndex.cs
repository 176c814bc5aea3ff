using MInference.Kernels.Sparse;

namespace MInference.Kernels.Cuda;

/// <summary>Which sparse_attention_mma.cu kernel an uploaded index feeds.</summary>
public enum CudaSparsePattern
{
    VerticalSlash,
    BlockSparse,
}

/// <summary>
/// A sparse index of one layer and span for a list of query heads ("slots"), in device memory: the
/// slots' per-block offset arrays back to back (<c>slots x (QueryBlocks + 1)</c> ints, values relative
/// to the slot's own arrays), the slots' ranges/columns or key blocks back to back, and per slot the
/// 64-bit element where its arrays start. Either uploaded from CPU-built indices (slot h = query head h;
/// owns its memory: dispose it once the kernels that read it have finished, after a synchronize) or
/// built on the GPU by <see cref="CudaBackend"/> (a view of the backend's workspace, valid until the
/// backend's next index build; slot i = query head <see cref="HeadOfSlot"/>[i]).
/// </summary>
public sealed class CudaSparseIndex : IDisposable
{
    private readonly List<DeviceBuffer> _buffers;
    private readonly ulong[] _pointers;

    private CudaSparseIndex(CudaSparsePattern pattern, int heads, int spanStart, int spanLength, List<DeviceBuffer> buffers)
    {
        Pattern = pattern;
        Heads = heads;
        SpanStart = spanStart;
        SpanLength = spanLength;
        _buffers = buffers;
        _pointers = [.. buffers.Select(b => b.Pointer)];
        HeadOfSlot = [.. Enumerable.Range(0, heads)];
    }

    /// <summary>A view of GPU-built arrays (pointers in the kernel's argument order) for the listed query heads.</summary>
    internal CudaSparseIndex(CudaSparsePattern pattern, int[] headOfSlot, ulong headsPointer, int spanStart, int spanLength, ulong[] pointers)
    {
        Pattern = pattern;
        Heads = headOfSlot.Length;
        SpanStart = spanStart;
        SpanLength = spanLength;
        _buffers = [];
        _pointers = pointers;
        HeadOfSlot = headOfSlot;
        HeadsPointer = headsPointer;
    }

    /// <summary>The query head each slot's arrays serve.</summary>
    public IReadOnlyList<int> HeadOfSlot { get; }

    /// <summary>Device array slot -> query head, or 0 where slot i is head i.</summary>
    internal ulong HeadsPointer { get; }

    public CudaSparsePattern Pattern { get; }

    public int Heads { get; }

    public int SpanStart { get; }

    public int SpanLength { get; }

    public int QueryBlocks => (SpanLength + SparseSpan.QueryBlock - 1) / SparseSpan.QueryBlock;

    /// <summary>Device pointers in the kernel's argument order (after the attention arguments).</summary>
    internal IReadOnlyList<ulong> Pointers => _pointers;

    /// <summary>Uploads one Vertical-Slash index per query head (head h of the layer at position h).</summary>
    public static CudaSparseIndex VerticalSlash(CudaBackend backend, IReadOnlyList<VerticalSlashBlockIndex> heads)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var (spanStart, spanLength) = CheckSpans(heads, h => (h.SpanStart, h.SpanLength));
        var buffers = new List<DeviceBuffer>();
        try
        {
            buffers.Add(backend.UploadIndex(Concatenate(heads, h => h.RangeOffsets)));
            buffers.Add(backend.UploadIndex(Concatenate(heads, h => h.RangeBounds)));
            buffers.Add(backend.UploadIndex(Bases(heads, h => h.RangeBounds.Length / 2)));
            buffers.Add(backend.UploadIndex(Concatenate(heads, h => h.ColumnOffsets)));
            buffers.Add(backend.UploadIndex(Concatenate(heads, h => h.Columns)));
            buffers.Add(backend.UploadIndex(Bases(heads, h => h.Columns.Length)));
        }
        catch
        {
            buffers.ForEach(b => b.Dispose());
            throw;
        }

        return new CudaSparseIndex(CudaSparsePattern.VerticalSlash, heads.Count, spanStart, spanLength, buffers);
    }

    /// <summary>Uploads one Block-Sparse index per query head.</summary>
    public static CudaSparseIndex BlockSparse(CudaBackend backend, IReadOnlyList<BlockSparseIndex> heads)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var (spanStart, spanLength) = CheckSpans(heads, h => (h.SpanStart, h.SpanLength));
        var buffers = new List<DeviceBuffer>();
        try
        {
            buffers.Add(backend.UploadIndex(Concatenate(heads, h => h.BlockOffsets)));
            buffers.Add(backend.UploadIndex(Concatenate(heads, h => h.KeyBlocks)));
            buffers.Add(backend.UploadIndex(Bases(heads, h => h.KeyBlocks.Length)));
        }
        catch
        {
            buffers.ForEach(b => b.Dispose());
            throw;
        }

        return new CudaSparseIndex(CudaSparsePattern.BlockSparse, heads.Count, spanStart, spanLength, buffers);
    }

    public void Dispose() => _buffers.ForEach(b => b.Dispose());

    private static (int Start, int Length) CheckSpans<T>(IReadOnlyList<T> heads, Func<T, (int Start, int Length)> span)
    {
        ArgumentNullException.ThrowIfNull(heads);
        if (heads.Count == 0)
        {
            throw new ArgumentException("at least one head's index is needed", nameof(heads));
        }

        var first = span(heads[0]);
        for (var h = 1; h < heads.Count; h++)
        {
            if (span(heads[h]) != first)
            {
                throw new ArgumentException($"head {h}'s index covers span {span(heads[h])}, head 0's {first}: one launch needs one span", nameof(heads));
            }
        }

        return first;
    }

    private static int[] Concatenate<T>(IReadOnlyList<T> heads, Func<T, int[]> array)
    {
        var total = heads.Sum(h => (long)array(h).Length);
        if (total > Array.MaxLength)
        {
            throw new ArgumentException($"the heads' index arrays hold {total} ints together, more than one upload of {Array.MaxLength}", nameof(heads));
        }

        var all = new int[total];
        var at = 0;
        foreach (var h in heads)
        {
            array(h).CopyTo(all, at);
            at += array(h).Length;
        }

        return all;
    }

    private static long[] Bases<T>(IReadOnlyList<T> heads, Func<T, int> length)
    {
        var bases = new long[heads.Count];
        for (var h = 1; h < heads.Count; h++)
        {
            bases[h] = bases[h - 1] + length(heads[h - 1]);
        }

        return bases;
    }
}
