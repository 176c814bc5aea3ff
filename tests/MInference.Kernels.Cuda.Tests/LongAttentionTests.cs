using MInference.Kernels.Backends;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// Flash attention at lengths where 32-bit offsets break and the CPU can't follow: checked row by
/// row against the plain f32 GPU reference kernel, itself checked against the CPU in
/// <see cref="FlashAttentionTests"/>. Q is scaled up so attention is peaked, as in real models; on
/// near-uniform attention over 2M keys the output is ~0 and only rounding noise would be compared.
/// </summary>
public sealed class LongAttentionTests(CudaFixture fixture)
{
    /// <summary>Full causal self-attention over 256K tokens (2 query heads on 1 KV head, d 64) agrees with the reference on sampled rows, block edges and the last row included.</summary>
    [Theory]
    [InlineData(FlashAttentionKernel.TensorCore)]
    [InlineData(FlashAttentionKernel.Simple)]
    public void Full_causal_attention_at_256K_tokens(FlashAttentionKernel kernel)
    {
        const int Tokens = 256 * 1024;
        const int QueryHeads = 2;
        const int KvHeads = 1;
        const int HeadDim = 64;
        var backend = fixture.Backend;
        backend.AttentionKernel = kernel;
        var seed = FreshSeed();
        var random = new Random(seed);
        using var query = backend.Upload(RandomValues(random, (long)Tokens * QueryHeads * HeadDim, 4f), Tokens, QueryHeads * HeadDim);
        using var keyCache = backend.Allocate(Tokens, KvHeads * HeadDim);
        using var valueCache = backend.Allocate(Tokens, KvHeads * HeadDim);
        backend.FillRandom(keyCache, (ulong)seed);
        backend.FillRandom(valueCache, (ulong)seed + 1);
        using var output = backend.Allocate(Tokens, QueryHeads * HeadDim);
        backend.Poison(output);
        var arguments = new AttentionArguments(query, keyCache, valueCache, output, 0, QueryHeads, KvHeads, HeadDim);
        backend.Attention(arguments);
        var all = Download(backend, output);
        foreach (var value in all)
        {
            Assert.True(float.IsFinite(value), $"seed {seed}: an output element was left unwritten or is not finite");
        }

        var sampled = new List<long> { 0, 1, 63, 64, 65, Tokens - 65, Tokens - 64, Tokens - 1 };
        sampled.AddRange(Enumerable.Range(0, 16).Select(_ => random.NextInt64(Tokens)));
        CompareRows(backend, arguments, all, [.. sampled], seed, $"{kernel} 256K causal");
    }

    /// <summary>
    /// A 100-row span at the end of a 2.1M-token cache of 8 KV heads × 128 (4.3 GB per cache, element
    /// offsets past 2^31) with 16 query heads agrees with the reference: 64-bit indexing end to end.
    /// </summary>
    [Theory]
    [InlineData(FlashAttentionKernel.TensorCore)]
    [InlineData(FlashAttentionKernel.Simple)]
    public void Span_at_the_end_of_a_2M_token_cache(FlashAttentionKernel kernel)
    {
        const long Keys = 2_100_000;
        const int Rows = 100;
        const int QueryHeads = 16;
        const int KvHeads = 8;
        const int HeadDim = 128;
        var backend = fixture.Backend;
        backend.AttentionKernel = kernel;
        var seed = FreshSeed();
        var random = new Random(seed);
        using var query = backend.Upload(RandomValues(random, (long)Rows * QueryHeads * HeadDim, 8f), Rows, QueryHeads * HeadDim);
        using var keyCache = backend.Allocate(Keys, KvHeads * HeadDim);
        using var valueCache = backend.Allocate(Keys, KvHeads * HeadDim);
        backend.FillRandom(keyCache, (ulong)seed);
        backend.FillRandom(valueCache, (ulong)seed + 1);
        using var output = backend.Allocate(Rows, QueryHeads * HeadDim);
        backend.Poison(output);
        var arguments = new AttentionArguments(query, keyCache, valueCache, output, Keys - Rows, QueryHeads, KvHeads, HeadDim);
        backend.Attention(arguments);
        var all = Download(backend, output);
        CompareRows(backend, arguments, all, [0, 37, 63, 64, Rows - 1], seed, $"{kernel} 2.1M-key span");
    }

    private static void CompareRows(CudaBackend backend, AttentionArguments arguments, float[] all, long[] rows, int seed, string what)
    {
        var width = arguments.Query.Columns;
        var expected = backend.ReferenceAttentionRows(arguments, rows);
        var actual = rows.SelectMany(r => all.AsSpan((int)(r * width), width).ToArray()).ToArray();
        AssertClose(actual, expected, seed, what);
    }
}
