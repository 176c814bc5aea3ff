using MInference.Kernels.Sparse;

namespace MInference.Kernels.Tests.Sparse;

public class BlockSparseEstimatorTests
{
    /// <summary>
    /// For whole prompts and ragged chunks: each query block keeps min(max(k, diagonal blocks), allowed)
    /// blocks, always its diagonal block(s), only block-causal ones, and the others are the best by a
    /// double-precision mean-pooled score (the partial last blocks pooled over their own rows).
    /// </summary>
    [Theory]
    [InlineData(0, 640, 3, 51)]
    [InlineData(100, 333, 4, 52)]
    [InlineData(64, 200, 1, 53)]
    [InlineData(5, 40, 6, 54)]
    public void Keeps_the_diagonal_and_the_best_pooled_blocks(int spanStart, int spanLength, int topBlocks, int seed)
    {
        var random = new Random(seed);
        var span = new SparseSpan(6, 2, 8, spanStart, spanLength);
        var query = SparseTestData.Random(random, spanLength, span.QueryStride, 2f);
        var keys = SparseTestData.Random(random, span.KeyLength, span.KeyValueStride, 2f);
        const int head = 4;
        var index = BlockSparseEstimator.Estimate(query, keys, span, head, topBlocks);
        Assert.Equal(span.QueryBlocks, index.QueryBlocks);
        for (var b = 0; b < index.QueryBlocks; b++)
        {
            var firstRow = 64 * b;
            var rows = Math.Min(64, spanLength - firstRow);
            var first = spanStart + firstRow;
            var last = first + rows - 1;
            var allowed = (last / 64) + 1;
            var diagonal = Enumerable.Range(first / 64, allowed - (first / 64)).ToArray();
            var chosen = index.KeyBlocks[index.BlockOffsets[b]..index.BlockOffsets[b + 1]];
            Assert.Equal(Math.Min(Math.Max(topBlocks, diagonal.Length), allowed), chosen.Length);
            Assert.Subset(chosen.ToHashSet(), diagonal.ToHashSet());
            Assert.All(chosen, k => Assert.InRange(k, 0, allowed - 1));

            var pooledQuery = Mean(query, span.QueryStride, head * 8, firstRow, rows);
            var score = (int k) =>
            {
                var pooledKey = Mean(keys, span.KeyValueStride, span.KeyValueHeadOf(head) * 8, 64 * k, Math.Min(64, span.KeyLength - (64 * k)));
                return pooledQuery.Zip(pooledKey, (x, y) => x * y).Sum();
            };
            var others = chosen.Except(diagonal).ToArray();
            var left = Enumerable.Range(0, allowed).Except(chosen).ToArray();
            if (others.Length > 0 && left.Length > 0)
            {
                Assert.True(others.Min(score) >= left.Max(score) - 1e-5, $"query block {b}: a left-out block outscores a chosen one");
            }
        }
    }

    private static double[] Mean(float[] data, int stride, int offset, int firstRow, int rows)
    {
        var mean = new double[8];
        for (var r = firstRow; r < firstRow + rows; r++)
        {
            for (var i = 0; i < 8; i++)
            {
                mean[i] += data[(r * stride) + offset + i] / (double)rows;
            }
        }

        return mean;
    }
}
