namespace MInference.Kernels.Sparse;

/// <summary>
/// Sparse attention on the CPU, one query head per call, visiting only the keys an index selects:
/// its work is the sparse work. Each query row runs one online softmax (f32, scale 1/sqrt(d)) over
/// 64-key tiles, the shape the GPU kernels have: for Vertical-Slash first the block's ranges with the
/// causal mask, then its gathered columns; for Block-Sparse the chosen key blocks with the causal mask;
/// for A-shape the sink keys and then the local window, never a key twice. Only the head's
/// <c>HeadDim</c> columns of <c>output</c> are written. Buffers and GQA as in <see cref="SparseSpan"/>.
/// </summary>
public static class SparseAttentionCpu
{
    /// <summary>Dense causal attention through the same row loop: each query visits keys <c>[0, position]</c>.</summary>
    public static void DenseCausal(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in SparseSpan span, int queryHead)
    {
        span.ValidateInputs(queryHead, query, keys, values, output);
        var row = new RowSoftmax(span, queryHead);
        for (var r = 0; r < span.SpanLength; r++)
        {
            DenseRow(row, query, keys, values, span, r);
            row.WriteTo(output, r);
        }
    }

    public static void VerticalSlash(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in SparseSpan span, int queryHead, VerticalSlashBlockIndex index)
    {
        span.ValidateInputs(queryHead, query, keys, values, output);
        CheckIndexSpan(span, index.SpanStart, index.SpanLength);
        var row = new RowSoftmax(span, queryHead);
        for (var r = 0; r < span.SpanLength; r++)
        {
            VerticalSlashRow(row, query, keys, values, span, index, r);
            row.WriteTo(output, r);
        }
    }

    public static void BlockSparse(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in SparseSpan span, int queryHead, BlockSparseIndex index)
    {
        span.ValidateInputs(queryHead, query, keys, values, output);
        CheckIndexSpan(span, index.SpanStart, index.SpanLength);
        var row = new RowSoftmax(span, queryHead);
        for (var r = 0; r < span.SpanLength; r++)
        {
            BlockSparseRow(row, query, keys, values, span, index, r);
            row.WriteTo(output, r);
        }
    }

    /// <summary>
    /// A query at position p attends to the sink keys <c>[0, min(initKeys, p + 1))</c> and the local
    /// window of <paramref name="localKeys"/> keys ending at itself, <c>[p - localKeys + 1, p]</c>,
    /// minus the keys the sink already covered.
    /// </summary>
    public static void AShape(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in SparseSpan span, int queryHead, int initKeys, int localKeys)
    {
        span.ValidateInputs(queryHead, query, keys, values, output);
        ArgumentOutOfRangeException.ThrowIfLessThan(initKeys, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(localKeys, 1);
        var row = new RowSoftmax(span, queryHead);
        for (var r = 0; r < span.SpanLength; r++)
        {
            AShapeRow(row, query, keys, values, span, initKeys, localKeys, r);
            row.WriteTo(output, r);
        }
    }

    /// <summary>One query row of <see cref="DenseCausal"/>: keys <c>[0, position]</c>. The full-span loops and the row-sampled paths share these row functions, so both give bit-identical rows.</summary>
    internal static void DenseRow(RowSoftmax row, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, in SparseSpan span, int r)
    {
        row.Reset(query, r);
        row.AddRange(keys, values, 0, span.SpanStart + r + 1);
    }

    /// <summary>One query row of <see cref="VerticalSlash"/>: its block's ranges (causal mask), then its block's columns.</summary>
    internal static void VerticalSlashRow(
        RowSoftmax row, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, in SparseSpan span, VerticalSlashBlockIndex index, int r)
    {
        var b = r / SparseSpan.QueryBlock;
        var ranges = index.RangeBounds.AsSpan(2 * index.RangeOffsets[b], 2 * (index.RangeOffsets[b + 1] - index.RangeOffsets[b]));
        var columns = index.Columns.AsSpan(index.ColumnOffsets[b], index.ColumnOffsets[b + 1] - index.ColumnOffsets[b]);
        var position = span.SpanStart + r;
        row.Reset(query, r);
        for (var i = 0; i < ranges.Length; i += 2)
        {
            row.AddRange(keys, values, ranges[i], Math.Min(ranges[i + 1], position + 1));
        }

        row.AddColumns(keys, values, columns);
    }

    /// <summary>One query row of <see cref="BlockSparse"/>: its block's key blocks (causal mask).</summary>
    internal static void BlockSparseRow(
        RowSoftmax row, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, in SparseSpan span, BlockSparseIndex index, int r)
    {
        var b = r / SparseSpan.QueryBlock;
        var blocks = index.KeyBlocks.AsSpan(index.BlockOffsets[b], index.BlockOffsets[b + 1] - index.BlockOffsets[b]);
        var position = span.SpanStart + r;
        row.Reset(query, r);
        foreach (var k in blocks)
        {
            var start = k * SparseSpan.KeyBlock;
            row.AddRange(keys, values, start, Math.Min(start + SparseSpan.KeyBlock, position + 1));
        }
    }

    /// <summary>One query row of <see cref="AShape"/>: the sink keys, then the local window minus the sink.</summary>
    internal static void AShapeRow(
        RowSoftmax row, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, in SparseSpan span, int initKeys, int localKeys, int r)
    {
        var position = span.SpanStart + r;
        row.Reset(query, r);
        var sinkEnd = Math.Min(initKeys, position + 1);
        row.AddRange(keys, values, 0, sinkEnd);
        row.AddRange(keys, values, Math.Max(sinkEnd, position - localKeys + 1), position + 1);
    }

    private static void CheckIndexSpan(in SparseSpan span, int indexStart, int indexLength)
    {
        if (indexStart != span.SpanStart || indexLength != span.SpanLength)
        {
            throw new ArgumentException(
                $"index was built for span [{indexStart}, {indexStart + indexLength}) but the call is for [{span.SpanStart}, {span.KeyLength})");
        }
    }
}
