using System.Numerics.Tensors;

namespace MInference.Kernels.Sparse;

/// <summary>
/// Block-Sparse index estimation (DESIGN section 4), for a whole prompt or a chunked span. The
/// span's queries are mean-pooled per 64-row query block (the last, partial block over its own rows)
/// and the keys <c>[0, KeyLength)</c> per absolute 64-key block (the last over the keys it has).
/// Block score = pooled Q · pooled K (no scale: it does not change the order). A query block may pick
/// key blocks starting at or before its last position (block-causal). The key blocks holding the query
/// block's own positions score +infinity, so they are always kept inside the budget of
/// <c>min(max(topBlocks, diagonal blocks), allowed blocks)</c>; equal scores keep the lower block.
/// </summary>
public static class BlockSparseEstimator
{
    public static BlockSparseIndex Estimate(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, in SparseSpan span, int queryHead, int topBlocks)
    {
        span.ValidateInputs(queryHead, query, keys);
        ArgumentOutOfRangeException.ThrowIfLessThan(topBlocks, 1);
        var d = span.HeadDim;
        var keyBlocks = (span.KeyLength + SparseSpan.KeyBlock - 1) / SparseSpan.KeyBlock;
        var pooledKeys = new float[keyBlocks * d];
        Pool(keys, span.KeyValueStride, span.KeyValueHeadOf(queryHead) * d, d, 0, span.KeyLength, pooledKeys);

        var queryBlocks = span.QueryBlocks;
        var blockOffsets = new int[queryBlocks + 1];
        var chosen = new List<int>();
        var pooledQuery = new float[d];
        var scores = new float[keyBlocks];
        for (var b = 0; b < queryBlocks; b++)
        {
            var firstRow = b * SparseSpan.QueryBlock;
            var rows = Math.Min(SparseSpan.QueryBlock, span.SpanLength - firstRow);
            Pool(query[(firstRow * span.QueryStride)..], span.QueryStride, queryHead * d, d, 0, rows, pooledQuery);
            var firstPosition = span.SpanStart + firstRow;
            var lastPosition = firstPosition + rows - 1;
            var allowed = (lastPosition / SparseSpan.KeyBlock) + 1;
            var diagonalStart = firstPosition / SparseSpan.KeyBlock;
            for (var k = 0; k < allowed; k++)
            {
                scores[k] = k >= diagonalStart
                    ? float.PositiveInfinity
                    : TensorPrimitives.Dot(pooledQuery, pooledKeys.AsSpan(k * d, d));
            }

            var count = Math.Min(Math.Max(topBlocks, allowed - diagonalStart), allowed);
            chosen.AddRange(TopK.Select(scores.AsSpan(0, allowed), count));
            blockOffsets[b + 1] = chosen.Count;
        }

        return new BlockSparseIndex(span.SpanStart, span.SpanLength, blockOffsets, [.. chosen]);
    }

    /// <summary>Means of rows <c>[rowStart, rowEnd)</c> in groups of 64, for one head's columns.</summary>
    private static void Pool(ReadOnlySpan<float> source, int stride, int columnOffset, int d, int rowStart, int rowEnd, Span<float> destination)
    {
        for (var block = 0; rowStart + (block * SparseSpan.KeyBlock) < rowEnd; block++)
        {
            var first = rowStart + (block * SparseSpan.KeyBlock);
            var rows = Math.Min(SparseSpan.KeyBlock, rowEnd - first);
            var mean = destination.Slice(block * d, d);
            mean.Clear();
            for (var r = first; r < first + rows; r++)
            {
                TensorPrimitives.Add(mean, source.Slice((r * stride) + columnOffset, d), mean);
            }

            TensorPrimitives.Multiply(mean, 1f / rows, mean);
        }
    }
}
