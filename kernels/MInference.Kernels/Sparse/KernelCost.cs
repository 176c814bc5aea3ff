using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>
/// The nominal kernel cost of a pattern over a whole prompt of N tokens, in (query, key) score
/// evaluations, the unit the offline search compares candidates in (DESIGN section 4, issue 3 item 8):
/// <list type="bullet">
/// <item>VS: per 64-row query block, each slash costs one 64 x 64 range and each vertical one 64-row column: <c>s·64·64 + v·64</c>
/// (budgets clamped as the estimator clamps them).</item>
/// <item>Block-sparse: <c>k·64·64</c> per query block.</item>
/// <item>A-shape: <c>(n_init + n_local)·64</c> per query block.</item>
/// <item>Dense: the causal keys of the block, <c>(b + 1)·64·64</c> for block b.</item>
/// </list>
/// Every term is capped at the dense cost of its block, since no kernel computes more than the causal
/// square; the sum is over the query blocks. It ignores merging of touching ranges (an upper bound).
/// </summary>
public static class KernelCost
{
    private const long Tile = (long)SparseSpan.QueryBlock * SparseSpan.KeyBlock;

    public static long Of(HeadPattern pattern, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        var blocks = (tokens + SparseSpan.QueryBlock - 1) / SparseSpan.QueryBlock;
        long perBlock = pattern.Kind switch
        {
            SparsePatternKind.VerticalSlash => VerticalSlashEstimator.ClampBudgets(pattern.Verticals, pattern.Slashes, tokens) is var (v, s)
                ? (s * Tile) + ((long)v * SparseSpan.QueryBlock)
                : 0,
            SparsePatternKind.BlockSparse => pattern.TopBlocks * Tile,
            SparsePatternKind.AShape => ((long)pattern.InitKeys + pattern.LocalKeys) * SparseSpan.QueryBlock,
            _ => long.MaxValue,
        };
        long total = 0;
        for (var b = 0; b < blocks; b++)
        {
            total += Math.Min(perBlock, (b + 1) * Tile);
        }

        return total;
    }
}
