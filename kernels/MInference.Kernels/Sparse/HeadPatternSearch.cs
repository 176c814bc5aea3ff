using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>One candidate as the search measured it.</summary>
public readonly record struct CandidateScore(HeadPattern Pattern, double RelativeError, long Cost);

/// <summary>
/// Paper Algorithm 1 for one head: every candidate runs on the head's Q/K/V from the reference input,
/// and the one whose output is closest to dense attention wins. Errors within
/// <see cref="TieTolerance"/> of the best count as equal, and then the cheaper candidate under
/// <see cref="KernelCost"/> wins (then the earlier one), so near-identical fits go to the faster kernel.
/// </summary>
public static class HeadPatternSearch
{
    /// <summary>Relative-L2 difference below which two candidates fit equally well.</summary>
    public const double TieTolerance = 1e-3;

    /// <summary>Scores every candidate (in their order) and returns the index of the winner with the scores.</summary>
    public static (int Best, CandidateScore[] Scores) Select(
        IReadOnlyList<HeadPattern> candidates, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        in SparseSpan span, int queryHead)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        if (candidates.Count == 0)
        {
            throw new ArgumentException("the search needs at least one candidate pattern", nameof(candidates));
        }

        var dense = HeadFidelity.DenseOutput(query, keys, values, span, queryHead);
        var scores = new CandidateScore[candidates.Count];
        for (var i = 0; i < scores.Length; i++)
        {
            var fidelity = HeadFidelity.Measure(candidates[i], query, keys, values, dense, span, queryHead);
            scores[i] = new CandidateScore(candidates[i], fidelity.RelativeError, KernelCost.Of(candidates[i], span.KeyLength));
        }

        var minimum = scores.Min(s => s.RelativeError);
        var best = -1;
        for (var i = 0; i < scores.Length; i++)
        {
            if (scores[i].RelativeError <= minimum + TieTolerance && (best < 0 || scores[i].Cost < scores[best].Cost))
            {
                best = i;
            }
        }

        return (best, scores);
    }
}
