using MInference.Kernels.Sparse;

namespace MInference.Kernels.Tests.Sparse;

/// <summary>Seeded random Q/K/V in the CPU backend's layout, and the naive double-precision oracle.</summary>
internal static class SparseTestData
{
    public static float[] Random(Random random, int rows, int columns, float amplitude = 1f)
    {
        var values = new float[rows * columns];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1) * amplitude;
        }

        return values;
    }

    /// <summary>
    /// Q and K with amplitude 2 (peaked softmax rows) and V with amplitude 1 for all of
    /// <paramref name="span"/>'s heads, drawn in that order from <paramref name="random"/>.
    /// </summary>
    public static (float[] Query, float[] Keys, float[] Values) RandomInputs(Random random, in SparseSpan span)
    {
        var query = Random(random, span.SpanLength, span.QueryStride, 2f);
        var keys = Random(random, span.KeyLength, span.KeyValueStride, 2f);
        var values = Random(random, span.KeyLength, span.KeyValueStride);
        return (query, keys, values);
    }

    /// <summary>The planted (query block, key block) pairs that <paramref name="index"/> does not select.</summary>
    public static (int QueryBlock, int KeyBlock)[] MissedPlantedBlocks(SyntheticAttentionInputs inputs, BlockSparseIndex index)
        => inputs.PlantedBlocks
            .Where(p => !index.KeyBlocks.AsSpan(index.BlockOffsets[p.QueryBlock], index.BlockOffsets[p.QueryBlock + 1] - index.BlockOffsets[p.QueryBlock]).Contains(p.KeyBlock))
            .ToArray();

    public static float[] Poisoned(int length)
    {
        var values = new float[length];
        Array.Fill(values, float.NaN);
        return values;
    }

    /// <summary>
    /// Attention of one head's span rows over the keys <paramref name="allowed"/>(row, key) admits, in
    /// double with a plain (not online) softmax: the oracle the sparse kernels are held to.
    /// Returns <c>[SpanLength, HeadDim]</c>.
    /// </summary>
    public static double[] MaskedAttention(
        float[] query, float[] keys, float[] values, SparseSpan span, int head, Func<int, int, bool> allowed)
    {
        var d = span.HeadDim;
        var kv = span.KeyValueHeadOf(head) * d;
        var result = new double[span.SpanLength * d];
        var scores = new double[span.KeyLength];
        for (var r = 0; r < span.SpanLength; r++)
        {
            var max = double.NegativeInfinity;
            for (var j = 0; j < span.KeyLength; j++)
            {
                scores[j] = double.NegativeInfinity;
                if (!allowed(r, j))
                {
                    continue;
                }

                double dot = 0;
                for (var i = 0; i < d; i++)
                {
                    dot += (double)query[(r * span.QueryStride) + (head * d) + i] * keys[(j * span.KeyValueStride) + kv + i];
                }

                scores[j] = dot / Math.Sqrt(d);
                max = Math.Max(max, scores[j]);
            }

            double sum = 0;
            for (var j = 0; j < span.KeyLength; j++)
            {
                if (double.IsNegativeInfinity(scores[j]))
                {
                    continue;
                }

                var w = Math.Exp(scores[j] - max);
                sum += w;
                for (var i = 0; i < d; i++)
                {
                    result[(r * d) + i] += w * values[(j * span.KeyValueStride) + kv + i];
                }
            }

            for (var i = 0; i < d; i++)
            {
                result[(r * d) + i] /= sum;
            }
        }

        return result;
    }

    /// <summary>Asserts the head's columns of <paramref name="output"/> match the oracle within a mixed tolerance.</summary>
    public static void AssertHeadMatches(double[] expected, float[] output, SparseSpan span, int head, double tolerance = 2e-5)
    {
        var d = span.HeadDim;
        for (var r = 0; r < span.SpanLength; r++)
        {
            for (var i = 0; i < d; i++)
            {
                var actual = output[(r * span.QueryStride) + (head * d) + i];
                var want = expected[(r * d) + i];
                Assert.False(
                    !(Math.Abs(actual - want) <= tolerance * (1 + Math.Abs(want))),
                    $"head {head} row {r} (position {span.SpanStart + r}) dim {i}: got {actual}, expected {want}");
            }
        }
    }
}
