using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>Last-position logits and their top-k (logits.cu) against a CPU sort, at real vocabulary sizes.</summary>
public sealed class LogitsTopKTests(CudaFixture fixture)
{
    /// <summary>
    /// The GPU top-k equals a CPU sort (logit descending, token id ascending) element for element, on logits
    /// drawn from a coarse grid so that many are equal (ties must keep the lower id), with the maximum
    /// planted at several ids; the log-sum-exp matches a double-precision sum. The op poisons its outputs
    /// with NaN before the kernel runs, so an unwritten pick fails the comparison.
    /// </summary>
    [Theory]
    [InlineData(32000, 1)]
    [InlineData(32000, 64)]
    [InlineData(128256, 5)]
    [InlineData(152064, 40)]
    [InlineData(7, 7)]
    public void TopK_matches_cpu_sort_with_ties(int vocab, int k)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var logits = new float[vocab];
        for (var i = 0; i < vocab; i++)
        {
            // 400 distinct values over ~150K ids: every value is shared by hundreds of ids.
            logits[i] = (random.Next(400) * 0.05f) - 10f;
        }

        var top = logits.Max();
        for (var planted = 0; planted < 3; planted++)
        {
            logits[random.Next(vocab)] = top + 1f;
        }

        var result = backend.TopK(logits, k);

        var expected = Enumerable.Range(0, vocab).OrderByDescending(i => logits[i]).ThenBy(i => i).Take(k).ToArray();
        Assert.True(expected.SequenceEqual(result.Ids), $"seed {seed}: ids {string.Join(",", result.Ids)} != {string.Join(",", expected)}");
        Assert.Equal(expected.Select(i => logits[i]), result.Logits);
        var max = (double)logits.Max();
        var logSumExp = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
        Assert.True(Math.Abs(result.LogSumExp - logSumExp) < 1e-4 * Math.Max(1, Math.Abs(logSumExp)), $"seed {seed}: log-sum-exp {result.LogSumExp} vs {logSumExp}");
    }

    /// <summary>
    /// RMSNorm of the last row, LM head in f32 and top-k: the f32 row matches a CPU double-precision
    /// reference on the bf16-rounded inputs, the picks are exactly the top-k of the GPU's own row, and the
    /// best logit agrees with the CPU's best. The row is poisoned with NaN before the GEMM.
    /// </summary>
    [Theory]
    [InlineData(32000, 3)]
    [InlineData(128256, 1)]
    [InlineData(152064, 2)]
    public void LastPositionLogits_match_cpu(int vocab, int rows)
    {
        const int Hidden = 256;
        const float Epsilon = 1e-5f;
        const int K = 8;
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var states = RoundToBFloat16(RandomValues(random, (long)rows * Hidden, 2f));
        var norm = RoundToBFloat16(RandomValues(random, Hidden));
        var head = RoundToBFloat16(RandomValues(random, (long)vocab * Hidden, 0.2f));
        using var hiddenStates = backend.Upload(states, rows, Hidden);
        using var finalNorm = backend.Upload(norm, 1, Hidden);
        using var lmHead = backend.Upload(head, vocab, Hidden);

        var row = new float[vocab];
        var result = backend.LastPositionLogits(hiddenStates, finalNorm, Epsilon, lmHead, K, row);

        // The GPU stores the normed row in bf16; the reference rounds it the same way.
        var last = states.AsSpan((rows - 1) * Hidden, Hidden).ToArray();
        var normed = RoundToBFloat16(NaiveReference.RmsNorm(last, norm, Hidden, Epsilon));
        var expected = new float[vocab];
        for (var v = 0; v < vocab; v++)
        {
            double sum = 0;
            for (var j = 0; j < Hidden; j++)
            {
                sum += (double)normed[j] * head[((long)v * Hidden) + j];
            }

            expected[v] = (float)sum;
        }

        // A normed element may round one bf16 step apart (f32 rsqrt): ~2e-4 of the row each.
        AssertClose(row, expected, seed, "last-position logits", 3e-3);
        var ownTop = Enumerable.Range(0, vocab).OrderByDescending(i => row[i]).ThenBy(i => i).Take(K).ToArray();
        Assert.True(ownTop.SequenceEqual(result.Ids), $"seed {seed}: picks {string.Join(",", result.Ids)} are not the row's top-{K} {string.Join(",", ownTop)}");
        Assert.True(Math.Abs(result.Logits[0] - expected.Max()) < 5e-3 * Math.Max(1, Math.Abs(expected.Max())), $"seed {seed}: best logit {result.Logits[0]} vs CPU {expected.Max()}");
    }

    /// <summary>k outside [1, min(64, vocab)] is refused naming the limit, before any launch.</summary>
    [Fact]
    public void TopK_rejects_k_out_of_range()
    {
        var backend = fixture.Backend;
        var logits = new float[10];
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.TopK(logits, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.TopK(logits, 11));
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.TopK(new float[1000], CudaBackend.MaxTopK + 1));
    }
}
