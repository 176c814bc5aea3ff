using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>
/// The offline search's candidates per head: the paper's space (A-shape (1024, 4096); VS (30, 2048),
/// (100, 1800), (500, 1500), (3000, 200); block-sparse top-100), stated for a
/// <see cref="ReferenceTokens"/>-token reference input, scaled linearly to the context the search runs
/// at so each candidate keeps the same share of the keys. Sizes round to at least 1, VS budgets are
/// raised to the estimator's minimums (v 30, s 50) so the config states what actually runs, and
/// candidates that coincide after that are listed once. Dense is never a candidate: it would always
/// win on error.
/// </summary>
public static class PatternSearchSpace
{
    /// <summary>The context the paper's sizes are stated for (its ~30K-token KV-retrieval sample).</summary>
    public const int ReferenceTokens = 32768;

    public static IReadOnlyList<HeadPattern> Candidates(int contextTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(contextTokens, 1);
        var scale = (double)contextTokens / ReferenceTokens;
        int Scaled(int size) => Math.Max(1, (int)Math.Round(size * scale));
        HeadPattern VerticalSlash(int v, int s) => HeadPattern.VerticalSlash(
            Math.Max(VerticalSlashEstimator.MinVerticals, Scaled(v)), Math.Max(VerticalSlashEstimator.MinSlashes, Scaled(s)));
        HeadPattern[] candidates =
        [
            HeadPattern.AShape(Scaled(1024), Scaled(4096)),
            VerticalSlash(30, 2048),
            VerticalSlash(100, 1800),
            VerticalSlash(500, 1500),
            VerticalSlash(3000, 200),
            HeadPattern.BlockSparse(Scaled(HeadPattern.DefaultTopBlocks)),
        ];
        return [.. candidates.Distinct()];
    }
}
