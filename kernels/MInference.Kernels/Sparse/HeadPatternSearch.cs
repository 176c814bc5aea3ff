using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>One candidate as the search measured it.</summary>
public readonly record struct CandidateScore(HeadPattern Pattern, double RelativeError, long Cost);

/// <summary>
/// Paper Algorithm 1 for one head: every candidate runs on the head's Q/K/V from the reference input,
/// and the one whose output is closest to dense attention wins. Errors within
/// <see cref="TieTolerance"/> of the best count as equal, and then the cheaper candidate under
/// <see cref="KernelCost"/> wins (then the earlier one), so near-identical fits go to the faster kernel.
/// <para>
/// Scoring cost: the dense reference is computed once per head and shared by every candidate; each
/// candidate then costs its index estimation plus its sparse attention. Given a row sample
/// (<see cref="QueryRowSample"/>), dense and sparse attention run on those rows only and the error is
/// the relative L2 over them: exact for those rows, an estimate for the span, at a fraction of the work
/// (the dense reference of a 32K span is N²/2 pairs per head; 256 sampled rows are 1.6% of it).
/// With <see cref="ScoringRows"/> the span's final rows are scored as a second group and a candidate's
/// error is the worse of the two (see there why).
/// </para>
/// </summary>
public static class HeadPatternSearch
{
    /// <summary>Relative-L2 difference below which two candidates fit equally well.</summary>
    public const double TieTolerance = 1e-3;

    /// <summary>Scores every candidate (in their order) on every row of the span and returns the index of the winner with the scores.</summary>
    public static (int Best, CandidateScore[] Scores) Select(
        IReadOnlyList<HeadPattern> candidates, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        in SparseSpan span, int queryHead)
        => Select(candidates, query, keys, values, span, queryHead, QueryRowSample.Draw(span.SpanLength, span.SpanLength, seed: 0));

    /// <summary>Scores every candidate (in their order) on the span rows <paramref name="rows"/> (relative L2 over them) and returns the index of the winner with the scores.</summary>
    public static (int Best, CandidateScore[] Scores) Select(
        IReadOnlyList<HeadPattern> candidates, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        in SparseSpan span, int queryHead, ReadOnlySpan<int> rows)
        => Select(candidates, query, keys, values, span, queryHead, ScoringRows.Sample(rows));

    /// <summary>
    /// Scores every candidate (in their order) on <paramref name="rows"/>: dense and sparse attention on
    /// <see cref="ScoringRows.Rows"/>, the error by <see cref="ScoringRows.Error"/> (the worse of the
    /// sampled and the final rows). Returns the index of the winner with the scores.
    /// </summary>
    public static (int Best, CandidateScore[] Scores) Select(
        IReadOnlyList<HeadPattern> candidates, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        in SparseSpan span, int queryHead, ScoringRows rows)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(rows);
        if (candidates.Count == 0)
        {
            throw new ArgumentException("the search needs at least one candidate pattern", nameof(candidates));
        }

        var dense = new float[rows.Rows.Length * span.HeadDim];
        SparseHeadPlan.DenseOf(span).AttendRows(query, keys, values, rows.Rows, dense, queryHead);
        var sparse = new float[dense.Length];
        var scores = new CandidateScore[candidates.Count];
        for (var i = 0; i < scores.Length; i++)
        {
            var plan = SparseHeadPlan.Estimate(candidates[i], query, keys, span, queryHead);
            Array.Fill(sparse, float.NaN);
            plan.AttendRows(query, keys, values, rows.Rows, sparse, queryHead);
            scores[i] = new CandidateScore(candidates[i], rows.Error(dense, sparse, span.HeadDim), KernelCost.Of(candidates[i], span.KeyLength));
        }

        return (Winner(scores), scores);
    }

    /// <summary>The smallest error wins; within <see cref="TieTolerance"/> of it the cheapest, then the earliest.</summary>
    public static int Winner(IReadOnlyList<CandidateScore> scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Count == 0)
        {
            throw new ArgumentException("no candidate was scored", nameof(scores));
        }

        var minimum = scores.Min(s => s.RelativeError);
        var best = -1;
        for (var i = 0; i < scores.Count; i++)
        {
            if (scores[i].RelativeError <= minimum + TieTolerance && (best < 0 || scores[i].Cost < scores[best].Cost))
            {
                best = i;
            }
        }

        return best;
    }
}
