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
        var plan = SparseHeadPlan.Estimate(pattern, query, keys, span, queryHead);
        plan.Attend(query, keys, values, output, queryHead);
        return plan.Kind;
    }
}
