namespace MInference.Kernels.Sparse;

/// <summary>
/// A Vertical-Slash selection converted for the attention kernels (CPU and CUDA read it as-is).
/// Query block b holds the span rows <c>[64 b, min(64 b + 64, SpanLength))</c>, i.e. absolute query
/// positions <c>[SpanStart + 64 b, ...)</c>; call its first and last positions pFirst and pLast.
/// <para>Layout (plain int arrays, CSR by query block, so they copy to the GPU unchanged):</para>
/// <list type="bullet">
/// <item><see cref="RangeOffsets"/>, length QueryBlocks + 1: block b owns ranges
/// <c>[RangeOffsets[b], RangeOffsets[b + 1])</c>.</item>
/// <item><see cref="RangeBounds"/>, length 2 x total ranges: range i is the key interval
/// <c>[RangeBounds[2 i], RangeBounds[2 i + 1])</c>. A block's ranges are ascending, disjoint and do not
/// touch (touching ranges are merged). Each selected offset o &lt;= pLast contributes
/// <c>[pFirst - o, pFirst - o + 64)</c> clipped to <c>[0, pLast + 1)</c>: 64 keys wide for every row of the
/// block, so the covered set is a superset of the selected diagonals (by design). Rows apply the causal
/// mask <c>key &lt;= position</c> inside a range.</item>
/// <item><see cref="ColumnOffsets"/>, length QueryBlocks + 1, and <see cref="Columns"/>: block b's gathered
/// columns <c>Columns[ColumnOffsets[b] .. ColumnOffsets[b + 1])</c>, ascending, each strictly before
/// pFirst (so no causal mask) and inside none of the block's ranges.</item>
/// </list>
/// Per block, ranges &lt;= the selection's offset count and columns &lt;= its column count (the budgets).
/// Offsets into these arrays are int: at 1M tokens with v + s = 7096 they reach about 1.2e8.
/// </summary>
public sealed class VerticalSlashBlockIndex
{
    private VerticalSlashBlockIndex(
        int spanStart, int spanLength, int rangeBudget, int columnBudget, int[] rangeOffsets, int[] rangeBounds, int[] columnOffsets, int[] columns)
    {
        SpanStart = spanStart;
        SpanLength = spanLength;
        RangeBudget = rangeBudget;
        ColumnBudget = columnBudget;
        RangeOffsets = rangeOffsets;
        RangeBounds = rangeBounds;
        ColumnOffsets = columnOffsets;
        Columns = columns;
    }

    public int SpanStart { get; }

    public int SpanLength { get; }

    public int KeyLength => SpanStart + SpanLength;

    public int QueryBlocks => RangeOffsets.Length - 1;

    /// <summary>Most ranges any block can hold: the selection's slash count.</summary>
    public int RangeBudget { get; }

    /// <summary>Most columns any block can hold: the selection's column count.</summary>
    public int ColumnBudget { get; }

    public int[] RangeOffsets { get; }

    public int[] RangeBounds { get; }

    public int[] ColumnOffsets { get; }

    public int[] Columns { get; }

    /// <summary>Converts a selection (the serial per-block merge MInference runs, one block at a time).</summary>
    public static VerticalSlashBlockIndex Build(VerticalSlashSelection selection)
    {
        var spanLength = selection.SpanLength;
        var blocks = (spanLength + SparseSpan.QueryBlock - 1) / SparseSpan.QueryBlock;
        var rangeOffsets = new int[blocks + 1];
        var columnOffsets = new int[blocks + 1];
        var rangeBounds = new List<int>();
        var columns = new List<int>();
        var offsets = selection.Offsets;
        for (var b = 0; b < blocks; b++)
        {
            var first = selection.SpanStart + (b * SparseSpan.QueryBlock);
            var last = selection.SpanStart + Math.Min((b + 1) * SparseSpan.QueryBlock, spanLength) - 1;
            var blockRangesStart = rangeBounds.Count;

            // Descending offsets give ascending range starts, so one pass merges.
            for (var i = offsets.Length - 1; i >= 0; i--)
            {
                var o = offsets[i];
                if (o > last)
                {
                    continue;
                }

                var start = Math.Max(0, first - o);
                var end = Math.Min(last + 1, first - o + SparseSpan.KeyBlock);
                if (rangeBounds.Count > blockRangesStart && start <= rangeBounds[^1])
                {
                    rangeBounds[^1] = Math.Max(rangeBounds[^1], end);
                }
                else
                {
                    rangeBounds.Add(start);
                    rangeBounds.Add(end);
                }
            }

            var range = blockRangesStart;
            foreach (var c in selection.Columns)
            {
                if (c >= first)
                {
                    break;
                }

                while (range < rangeBounds.Count && rangeBounds[range + 1] <= c)
                {
                    range += 2;
                }

                if (range < rangeBounds.Count && rangeBounds[range] <= c)
                {
                    continue;
                }

                columns.Add(c);
            }

            rangeOffsets[b + 1] = rangeBounds.Count / 2;
            columnOffsets[b + 1] = columns.Count;
        }

        return new VerticalSlashBlockIndex(
            selection.SpanStart, spanLength, offsets.Length, selection.Columns.Length, rangeOffsets, [.. rangeBounds], columnOffsets, [.. columns]);
    }

    /// <summary>(query, key) pairs the kernels compute after the causal mask: the work of this index. O(ranges): the engine counts it for every span it runs.</summary>
    public long CoveredPairs()
    {
        long total = 0;
        for (var b = 0; b < QueryBlocks; b++)
        {
            var first = SpanStart + (b * SparseSpan.QueryBlock);
            var last = SpanStart + Math.Min((b + 1) * SparseSpan.QueryBlock, SpanLength) - 1;
            for (var i = RangeOffsets[b]; i < RangeOffsets[b + 1]; i++)
            {
                // Row p sees clamp(p + 1 - start, 0, width) keys of the range [start, start + width).
                var start = RangeBounds[2 * i];
                var width = RangeBounds[(2 * i) + 1] - start;
                total += ClampedRampSum((long)last + 1 - start, width) - ClampedRampSum((long)first - start, width);
            }

            total += (long)(ColumnOffsets[b + 1] - ColumnOffsets[b]) * (last - first + 1);
        }

        return total;
    }

    /// <summary>Sum of <c>clamp(x, 0, width)</c> over every integer x up to <paramref name="n"/>.</summary>
    private static long ClampedRampSum(long n, long width)
        => n <= 0 ? 0 : n <= width ? n * (n + 1) / 2 : (width * (width + 1) / 2) + ((n - width) * width);
}
