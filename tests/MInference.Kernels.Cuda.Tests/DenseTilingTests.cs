using MInference.Kernels.Backends;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>Every tiling of the tensor-core dense attention kernel against naive attention and, at long lengths, the GPU reference.</summary>
public sealed class DenseTilingTests(CudaFixture fixture)
{
    public static TheoryData<string> Tilings128 => [.. DenseAttentionTiling.All.Where(t => t.HeadDim == 128).Select(t => t.KernelName)];

    /// <summary>
    /// One tiling equals naive causal attention on fresh random inputs: ragged span lengths that fill no
    /// block, spans at offsets into a longer NaN-padded cache (rows past the keys in use must never be
    /// read), GQA groups of 1-8. The output is poisoned with NaN first.
    /// </summary>
    [Theory]
    [MemberData(nameof(Tilings128))]
    public void Tiling_matches_naive_attention(string kernelName)
    {
        var tiling = DenseAttentionTiling.All.Single(t => t.KernelName == kernelName);
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        (int Rows, long Start, int Hq, int Hkv)[] all = [(1, 0, 2, 1), (1, 0, 1, 1), (100, 0, 4, 2), (77, 300, 8, 2), (257, 700, 4, 1), (300, 45, 8, 8), (129, 3, 16, 2)];
        var cases = all.Where(c => tiling.Serves(c.Hq / c.Hkv)).ToArray();
        Assert.True(cases.Length >= 5, $"{tiling} serves too few of the cases");
        backend.AttentionKernel = FlashAttentionKernel.TensorCore;
        backend.AttentionTiling = tiling;
        try
        {
            foreach (var (rows, queryStart, queryHeads, kvHeads) in cases)
            {
                const int HeadDim = 128;
                var keyLength = queryStart + rows;
                var q = RoundToBFloat16(RandomValues(random, (long)rows * queryHeads * HeadDim, 2f));
                var k = RoundToBFloat16(RandomValues(random, keyLength * kvHeads * HeadDim, 2f));
                var v = RoundToBFloat16(RandomValues(random, keyLength * kvHeads * HeadDim));
                using var query = backend.Upload(q, rows, queryHeads * HeadDim);
                using var keyCache = PoisonedCache(backend, k, keyLength, kvHeads * HeadDim);
                using var valueCache = PoisonedCache(backend, v, keyLength, kvHeads * HeadDim);
                using var output = backend.Allocate(rows, queryHeads * HeadDim);
                backend.Poison(output);
                backend.Attention(new AttentionArguments(query, keyCache, valueCache, output, queryStart, queryHeads, kvHeads, HeadDim));
                var expected = NaiveReference.Attention(q, k, v, queryStart, rows, queryHeads, kvHeads, HeadDim);
                AssertClose(Download(backend, output), expected, seed, $"{tiling}: rows {rows} at {queryStart}, {queryHeads}/{kvHeads} heads");
            }
        }
        finally
        {
            backend.AttentionTiling = null;
        }
    }

    /// <summary>
    /// One tiling over 96K tokens (4 query heads on 1 KV head, d 128; many key tiles, so the pipeline
    /// wraps around its stages thousands of times) agrees with the f32 GPU reference on sampled rows,
    /// block edges and the last row included; every output element is written.
    /// </summary>
    [Theory]
    [MemberData(nameof(Tilings128))]
    public void Tiling_matches_reference_at_96K_tokens(string kernelName)
    {
        const int Tokens = 96 * 1024;
        const int QueryHeads = 4;
        const int KvHeads = 1;
        const int HeadDim = 128;
        var tiling = DenseAttentionTiling.All.Single(t => t.KernelName == kernelName);
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        // Q scaled up so attention is peaked, as in real models (see LongAttentionTests).
        using var query = backend.Upload(RandomValues(random, (long)Tokens * QueryHeads * HeadDim, 4f), Tokens, QueryHeads * HeadDim);
        using var keyCache = backend.Allocate(Tokens, KvHeads * HeadDim);
        using var valueCache = backend.Allocate(Tokens, KvHeads * HeadDim);
        backend.FillRandom(keyCache, (ulong)seed + 1);
        backend.FillRandom(valueCache, (ulong)seed + 2);
        using var output = backend.Allocate(Tokens, QueryHeads * HeadDim);
        backend.Poison(output);
        var arguments = new AttentionArguments(query, keyCache, valueCache, output, 0, QueryHeads, KvHeads, HeadDim);
        backend.AttentionKernel = FlashAttentionKernel.TensorCore;
        backend.AttentionTiling = tiling;
        try
        {
            backend.Attention(arguments);
        }
        finally
        {
            backend.AttentionTiling = null;
        }

        var all = Download(backend, output);
        Assert.True(all.All(float.IsFinite), $"seed {seed}: {tiling} left an output element unwritten or not finite");
        var sampled = new List<long> { 0, 1, 127, 128, 255, 256, Tokens - 257, Tokens - 129, Tokens - 1 };
        sampled.AddRange(Enumerable.Range(0, 12).Select(_ => random.NextInt64(Tokens)));
        var width = QueryHeads * HeadDim;
        var rows = sampled.ToArray();
        var expected = backend.ReferenceAttentionRows(arguments, rows);
        var actual = rows.SelectMany(r => all.AsSpan((int)(r * width), width).ToArray()).ToArray();
        AssertClose(actual, expected, seed, $"{tiling} at 96K");
    }

    /// <summary>A tiling for another head dim is refused naming both.</summary>
    [Fact]
    public void Tiling_for_another_head_dim_is_refused()
    {
        var backend = fixture.Backend;
        using var q = backend.Allocate(8, 64);
        using var kv = backend.Allocate(8, 64);
        using var o = backend.Allocate(8, 64);
        backend.AttentionKernel = FlashAttentionKernel.TensorCore;
        backend.AttentionTiling = DenseAttentionTiling.Default(128, 1);
        try
        {
            var error = Assert.Throws<ArgumentException>(() => backend.Attention(new AttentionArguments(q, kv, kv, o, 0, 1, 1, 64)));
            Assert.Contains("head_dim 128", error.Message, StringComparison.Ordinal);

            // A packed tiling needs GQA groups it can split into head pairs.
            using var q3 = backend.Allocate(8, 3 * 128);
            using var kv1 = backend.Allocate(8, 128);
            using var o3 = backend.Allocate(8, 3 * 128);
            backend.AttentionTiling = DenseAttentionTiling.D128Keys64Stages2Packed;
            var unpaired = Assert.Throws<ArgumentException>(() => backend.Attention(new AttentionArguments(q3, kv1, kv1, o3, 0, 3, 1, 128)));
            Assert.Contains("groups of 3", unpaired.Message, StringComparison.Ordinal);
        }
        finally
        {
            backend.AttentionTiling = null;
        }
    }

    private static IDeviceTensor PoisonedCache(CudaBackend backend, float[] values, long keyLength, int columns)
    {
        var cache = backend.Allocate(keyLength + 19, columns);
        backend.Poison(cache);
        using var filled = backend.Upload(values, keyLength, columns);
        backend.CopyRows(filled, 0, cache, 0, keyLength);
        return cache;
    }
}
