using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>
/// The offline search's candidates per head: the paper's space (A-shape (1024, 4096); VS (30, 2048),
/// (100, 1800), (500, 1500), (3000, 200); block-sparse top-100), stated for a
/// <see cref="ReferenceTokens"/>-token reference input, scaled linearly to the context the search runs
/// at so each candidate keeps the same share of the keys (sizes round to at least 1; the estimator's own
/// clamps still apply). Dense is never a candidate: it would always win on error.
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
        return
        [
            HeadPattern.AShape(Scaled(1024), Scaled(4096)),
            HeadPattern.VerticalSlash(Scaled(30), Scaled(2048)),
            HeadPattern.VerticalSlash(Scaled(100), Scaled(1800)),
            HeadPattern.VerticalSlash(Scaled(500), Scaled(1500)),
            HeadPattern.VerticalSlash(Scaled(3000), Scaled(200)),
            HeadPattern.BlockSparse(Scaled(HeadPattern.DefaultTopBlocks)),
        ];
    }
}
