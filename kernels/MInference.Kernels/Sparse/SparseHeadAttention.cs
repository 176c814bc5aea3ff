using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>
/// Runs one query head's configured pattern over a span on the CPU: estimates the index when the
/// pattern is dynamic, then attends. Patterns that would select every causal key (a VS budget at
/// least the key count after clamping, block-sparse top-k at least the key blocks, A-shape sink plus
/// window at least the key count) take the dense path, since their index would be pure overhead.
/// </summary>
public static class SparseHeadAttention
{
    /// <summary>Attends and returns the pattern that actually ran (dense when the pattern degenerated to it).</summary>
    public static SparsePatternKind Run(
        HeadPattern pattern, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in SparseSpan span, int queryHead)
    {
        var keyLength = span.KeyLength;
        switch (pattern.Kind)
        {
            case SparsePatternKind.VerticalSlash:
                var (v, s) = VerticalSlashEstimator.ClampBudgets(pattern.Verticals, pattern.Slashes, keyLength);
                if (v < keyLength && s < keyLength)
                {
                    var selection = VerticalSlashEstimator.Estimate(query, keys, span, queryHead, pattern.Verticals, pattern.Slashes);
                    SparseAttentionCpu.VerticalSlash(query, keys, values, output, span, queryHead, VerticalSlashBlockIndex.Build(selection));
                    return SparsePatternKind.VerticalSlash;
                }

                break;
            case SparsePatternKind.BlockSparse:
                if ((long)pattern.TopBlocks * SparseSpan.KeyBlock < keyLength)
                {
                    var index = BlockSparseEstimator.Estimate(query, keys, span, queryHead, pattern.TopBlocks);
                    SparseAttentionCpu.BlockSparse(query, keys, values, output, span, queryHead, index);
                    return SparsePatternKind.BlockSparse;
                }

                break;
            case SparsePatternKind.AShape:
                if ((long)pattern.InitKeys + pattern.LocalKeys < keyLength)
                {
                    SparseAttentionCpu.AShape(query, keys, values, output, span, queryHead, pattern.InitKeys, pattern.LocalKeys);
                    return SparsePatternKind.AShape;
                }

                break;
            case SparsePatternKind.Dense:
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(pattern), pattern.Kind, "unknown pattern kind");
        }

        SparseAttentionCpu.DenseCausal(query, keys, values, output, span, queryHead);
        return SparsePatternKind.Dense;
    }
}
