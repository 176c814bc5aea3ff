namespace MInference.Kernels.Sparse;

/// <summary>
/// The query rows of a span on which the search scores a candidate against dense attention, in up to
/// two groups: a stratified sample of the whole span (<see cref="QueryRowSample"/>) and the span's final
/// rows. A candidate's error is the larger of the two groups' relative L2 errors, so it must follow
/// dense attention both across the span and on the final rows.
/// <para>
/// Why the final rows count on their own: the last row's output is what the pre-fill's logits (the first
/// generated token) are computed from, and a retrieval head's last row may put almost all of its mass on
/// a few distant keys (a needle's digits) that no earlier row looks at. In a sample of hundreds of rows
/// that one row is noise, so a pattern that drops those keys (block-sparse, which pools 64 query rows
/// before choosing key blocks) can win the head and change the answer. Scored as a group, the final rows'
/// error decides the candidate whenever it is the larger one. With no final rows this is the paper's
/// scoring: relative L2 over the sample.
/// </para>
/// </summary>
public sealed class ScoringRows
{
    private readonly int[] _sample;
    private readonly int[] _final;

    private ScoringRows(int[] rows, int[] sample, int[] final)
    {
        Rows = rows;
        _sample = sample;
        _final = final;
    }

    /// <summary>Every row to compute, ascending and distinct: outputs passed to <see cref="Error"/> are in this order.</summary>
    public int[] Rows { get; }

    /// <summary>How many of the span's last rows form the final group (0: none).</summary>
    public int FinalRows => _final.Length;

    /// <summary>The sampled rows alone (the paper's scoring).</summary>
    public static ScoringRows Sample(ReadOnlySpan<int> sample) => Of(sample, spanLength: 0, finalRows: 0);

    /// <summary>
    /// <paramref name="sample"/> (ascending distinct rows of the span) plus the span's last
    /// <c>min(finalRows, spanLength)</c> rows as a second group.
    /// </summary>
    public static ScoringRows Of(ReadOnlySpan<int> sample, int spanLength, int finalRows)
    {
        if (sample.IsEmpty)
        {
            throw new ArgumentException("the search needs at least one sampled query row to score", nameof(sample));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(finalRows);
        for (var i = 1; i < sample.Length; i++)
        {
            if (sample[i] <= sample[i - 1])
            {
                throw new ArgumentException($"sampled rows must be strictly ascending: {sample[i - 1]} then {sample[i]} at index {i}", nameof(sample));
            }
        }

        if (finalRows > 0 && (sample[0] < 0 || sample[^1] >= spanLength))
        {
            throw new ArgumentException($"sampled rows {sample[0]}..{sample[^1]} lie outside the span's {spanLength} rows", nameof(sample));
        }

        var firstFinal = spanLength - Math.Min(finalRows, spanLength);
        var rows = new SortedSet<int>(sample.ToArray());
        for (var r = firstFinal; r < spanLength; r++)
        {
            rows.Add(r);
        }

        int[] union = [.. rows];
        var sampleIndices = new int[sample.Length];
        for (var i = 0; i < sample.Length; i++)
        {
            sampleIndices[i] = Array.BinarySearch(union, sample[i]);
        }

        var finalIndices = new int[spanLength - firstFinal];
        for (var i = 0; i < finalIndices.Length; i++)
        {
            finalIndices[i] = Array.BinarySearch(union, firstFinal + i);
        }

        return new ScoringRows(union, sampleIndices, finalIndices);
    }

    /// <summary>
    /// The candidate's score: the larger of the sample's and the final rows' relative L2 error.
    /// <paramref name="dense"/> and <paramref name="sparse"/> hold <see cref="Rows"/> rows of
    /// <paramref name="headDim"/> values each, in that order.
    /// </summary>
    public double Error(ReadOnlySpan<float> dense, ReadOnlySpan<float> sparse, int headDim)
    {
        var (sample, final) = Errors(dense, sparse, headDim);
        return Math.Max(sample, final);
    }

    /// <summary>The relative L2 error over the sampled rows and over the final rows (0 when there are none).</summary>
    public (double Sample, double Final) Errors(ReadOnlySpan<float> dense, ReadOnlySpan<float> sparse, int headDim)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(headDim, 1);
        var expected = (long)Rows.Length * headDim;
        if (dense.Length != expected || sparse.Length != expected)
        {
            throw new ArgumentException(
                $"outputs hold {dense.Length} (dense) and {sparse.Length} (sparse) values, expected {Rows.Length} rows x {headDim}", nameof(sparse));
        }

        return (GroupError(_sample, dense, sparse, headDim), _final.Length == 0 ? 0 : GroupError(_final, dense, sparse, headDim));
    }

    private static double GroupError(int[] indices, ReadOnlySpan<float> dense, ReadOnlySpan<float> sparse, int headDim)
    {
        double difference = 0, norm = 0;
        foreach (var index in indices)
        {
            var offset = index * headDim;
            for (var i = offset; i < offset + headDim; i++)
            {
                var delta = (double)sparse[i] - dense[i];
                difference += delta * delta;
                norm += (double)dense[i] * dense[i];
            }
        }

        return norm == 0 ? Math.Sqrt(difference) : Math.Sqrt(difference / norm);
    }
}
