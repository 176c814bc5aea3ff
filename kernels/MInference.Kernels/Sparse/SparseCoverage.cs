namespace MInference.Kernels.Sparse;

/// <summary>
/// How much of the causal attention matrix an index computes. <see cref="SelectedPairs"/> are the
/// (query, key) pairs the estimator asked for; <see cref="CoveredPairs"/> the pairs the kernels
/// actually compute (a superset, since slash ranges are 64 keys wide); the difference is the extra
/// area the block layout costs.
/// </summary>
public readonly record struct SparseCoverage(long CausalPairs, long SelectedPairs, long CoveredPairs)
{
    public long ExtraPairs => CoveredPairs - SelectedPairs;

    /// <summary>Share of causal pairs computed.</summary>
    public double Density => (double)CoveredPairs / CausalPairs;

    /// <summary>Measures a VS index against its selection; costs O(span rows x offsets).</summary>
    public static SparseCoverage Measure(VerticalSlashSelection selection, VerticalSlashBlockIndex index)
    {
        var isColumn = new bool[selection.KeyLength];
        foreach (var c in selection.Columns)
        {
            isColumn[c] = true;
        }

        long selected = 0;
        var columnsSeen = 0;
        for (var p = selection.SpanStart; p < selection.KeyLength; p++)
        {
            while (columnsSeen < selection.Columns.Length && selection.Columns[columnsSeen] <= p)
            {
                columnsSeen++;
            }

            selected += columnsSeen;
            foreach (var o in selection.Offsets)
            {
                if (o > p)
                {
                    break;
                }

                if (!isColumn[p - o])
                {
                    selected++;
                }
            }
        }

        return new SparseCoverage(CausalPairsOf(selection.SpanStart, selection.SpanLength), selected, index.CoveredPairs());
    }

    /// <summary>Causal pairs of a span: query at position p sees p + 1 keys.</summary>
    public static long CausalPairsOf(int spanStart, int spanLength)
        => ((long)spanLength * spanStart) + ((long)spanLength * (spanLength + 1) / 2);
}
