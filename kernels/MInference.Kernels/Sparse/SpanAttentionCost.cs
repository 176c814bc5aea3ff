using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>
/// The (query, key) pairs one head's attention computes over a span of queries
/// <c>[spanStart, spanStart + spanLength)</c> against keys <c>[0, spanStart + spanLength)</c>, known before
/// any index is estimated: each query at position p computes <c>min(p + 1, C)</c> keys, C by pattern:
/// <list type="bullet">
/// <item>Dense (or a pattern that would select every key, <see cref="SparseHeadPlan.SelectsEverything"/>): no cap, p + 1 keys. Exact.</item>
/// <item>A-shape (n_init, n_local): <c>C = n_init + n_local</c>. Exact (sink and window never counted twice).</item>
/// <item>Block-sparse top-k: <c>C = max(k, 2) · 64</c> (up to two diagonal blocks are always kept). An upper bound.</item>
/// <item>Vertical-Slash (v, s), budgets clamped at the span's key count: each slash a 64-wide range,
/// each vertical one key, <c>C = s · 64 + v</c>. The kernel's budget bound: merged ranges make the real
/// count lower, by how much depends on the input (measure it with <see cref="SparseHeadPlan.CoveredPairs"/>).</item>
/// </list>
/// Closed form, O(1) per call, so the chunk planner can evaluate it for millions of tokens.
/// </summary>
public static class SpanAttentionCost
{
    /// <summary>Upper bound on the pairs <paramref name="pattern"/> computes for the span (exact for dense and A-shape).</summary>
    public static long PlannedPairs(HeadPattern pattern, long spanStart, long spanLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(spanStart);
        ArgumentOutOfRangeException.ThrowIfNegative(spanLength);
        if (spanLength == 0)
        {
            return 0;
        }

        return CappedPairs(spanStart, spanLength, KeysPerQuery(pattern, spanStart + spanLength));
    }

    /// <summary>The cap C of keys per query for a span ending at key <paramref name="keyLength"/>; <see cref="long.MaxValue"/> for dense.</summary>
    public static long KeysPerQuery(HeadPattern pattern, long keyLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keyLength, 1);
        var keys = (int)Math.Min(keyLength, int.MaxValue);
        if (SparseHeadPlan.SelectsEverything(pattern, keys))
        {
            return long.MaxValue;
        }

        return pattern.Kind switch
        {
            SparsePatternKind.AShape => (long)pattern.InitKeys + pattern.LocalKeys,
            SparsePatternKind.BlockSparse => (long)Math.Max(pattern.TopBlocks, 2) * SparseSpan.KeyBlock,
            SparsePatternKind.VerticalSlash => VerticalSlashEstimator.ClampBudgets(pattern.Verticals, pattern.Slashes, keys) is var (v, s)
                ? ((long)s * SparseSpan.KeyBlock) + v
                : 0,
            _ => long.MaxValue,
        };
    }

    /// <summary>Sum over p in <c>[start, start + length)</c> of <c>min(p + 1, cap)</c>.</summary>
    public static long CappedPairs(long start, long length, long cap)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfLessThan(cap, 1);
        var end = start + length;

        // Positions p < cap - 1 see p + 1 keys; the rest see cap.
        var rampEnd = Math.Clamp(cap - 1, start, end);
        var ramp = rampEnd - start;
        var rampPairs = ramp == 0 ? 0 : (ramp * (start + 1 + rampEnd)) / 2;
        return rampPairs + (end == rampEnd ? 0 : (end - rampEnd) * cap);
    }
}
