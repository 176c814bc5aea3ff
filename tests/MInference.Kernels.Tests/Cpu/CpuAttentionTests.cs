using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;

namespace MInference.Kernels.Tests.Cpu;

public sealed class CpuAttentionTests
{
    /// <summary>
    /// Causal GQA attention of a query span at an offset into a longer cache matches a double-precision
    /// softmax reference: groups of 1, 4 and 8 query heads per KV head, head_dim 64 and 128 (and 48 for
    /// the non-multiple-of-32 tail), spans and offsets that are not multiples of the 64-row blocks.
    /// </summary>
    [Theory]
    [InlineData(1, 0, 2, 2, 64)]
    [InlineData(70, 0, 4, 1, 64)]
    [InlineData(65, 130, 8, 2, 128)]
    [InlineData(3, 200, 8, 1, 128)]
    [InlineData(129, 7, 4, 4, 48)]
    [InlineData(1, 300, 16, 2, 64)]
    public void Attention_matches_double_reference(int n, int queryStart, int queryHeads, int kvHeads, int headDim)
    {
        var random = new Random((n * 7919) + (queryStart * 31) + (queryHeads * 5) + headDim);
        using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 2 });
        var keyLength = queryStart + n;

        // The cache is longer than the visible keys: rows past KeyLength hold garbage that must not leak in.
        var capacity = keyLength + 17;
        var qValues = TestData.Random(random, (long)n * queryHeads * headDim, 2f);
        var kValues = TestData.Random(random, (long)capacity * kvHeads * headDim, 2f);
        var vValues = TestData.Random(random, (long)capacity * kvHeads * headDim);
        for (var i = keyLength * kvHeads * headDim; i < kValues.Length; i++)
        {
            kValues[i] = 1e4f;
            vValues[i] = float.NaN;
        }

        using var q = TestData.Upload(backend, qValues, n, queryHeads * headDim);
        using var k = TestData.Upload(backend, kValues, capacity, kvHeads * headDim);
        using var v = TestData.Upload(backend, vValues, capacity, kvHeads * headDim);
        using var o = TestData.Poisoned(backend, n, queryHeads * headDim);

        backend.Attention(new AttentionArguments(q, k, v, o, queryStart, queryHeads, kvHeads, headDim));

        var expected = Reference(qValues, kValues, vValues, n, queryStart, queryHeads, kvHeads, headDim);
        TestData.AssertClose(TestData.Download(backend, o), expected);
    }

    /// <summary>A span that would read past the cache throws and names the rows needed and held.</summary>
    [Fact]
    public void Attention_rejects_span_past_cache()
    {
        using var backend = new CpuBackend();
        using var q = backend.Allocate(10, 64);
        using var k = backend.Allocate(12, 64);
        using var v = backend.Allocate(12, 64);
        using var o = backend.Allocate(10, 64);
        var error = Assert.Throws<ArgumentException>(() => backend.Attention(new AttentionArguments(q, k, v, o, 5, 1, 1, 64)));
        Assert.Contains("15", error.Message, StringComparison.Ordinal);
        Assert.Contains("12", error.Message, StringComparison.Ordinal);
    }

    private static double[] Reference(float[] q, float[] k, float[] v, int n, int queryStart, int queryHeads, int kvHeads, int headDim)
    {
        var output = new double[n * queryHeads * headDim];
        var scale = 1.0 / Math.Sqrt(headDim);
        var group = queryHeads / kvHeads;
        for (var h = 0; h < queryHeads; h++)
        {
            var kvHead = h / group;
            for (var r = 0; r < n; r++)
            {
                var visible = queryStart + r + 1;
                var scores = new double[visible];
                var max = double.NegativeInfinity;
                for (var c = 0; c < visible; c++)
                {
                    double dot = 0;
                    for (var d = 0; d < headDim; d++)
                    {
                        dot += (double)q[(((r * queryHeads) + h) * headDim) + d] * k[(((c * kvHeads) + kvHead) * headDim) + d];
                    }

                    scores[c] = dot * scale;
                    max = Math.Max(max, scores[c]);
                }

                double sum = 0;
                for (var c = 0; c < visible; c++)
                {
                    scores[c] = Math.Exp(scores[c] - max);
                    sum += scores[c];
                }

                for (var d = 0; d < headDim; d++)
                {
                    double value = 0;
                    for (var c = 0; c < visible; c++)
                    {
                        value += scores[c] * v[(((c * kvHeads) + kvHead) * headDim) + d];
                    }

                    output[(((r * queryHeads) + h) * headDim) + d] = value / sum;
                }
            }
        }

        return output;
    }
}
