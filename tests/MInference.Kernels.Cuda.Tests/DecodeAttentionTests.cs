using MInference.Kernels.Backends;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>The split-over-the-cache decode kernels, taken by a single query row over ≥ 4096 keys.</summary>
public sealed class DecodeAttentionTests(CudaFixture fixture)
{
    /// <summary>
    /// Decode attention equals naive attention at the threshold length, at lengths that leave a
    /// ragged last split, with GQA groups of 1-16 and d 64/128; the cache's NaN tail is never read.
    /// </summary>
    [Theory]
    [InlineData(4095L, 8, 2, 128)]
    [InlineData(5000L, 4, 4, 64)]
    [InlineData(20_001L, 16, 1, 64)]
    [InlineData(70_000L, 32, 8, 128)]
    public void Decode_matches_naive_attention(long queryStart, int queryHeads, int kvHeads, int headDim)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var keyLength = queryStart + 1;
        var q = RoundToBFloat16(RandomValues(random, queryHeads * headDim, 4f));
        var k = RoundToBFloat16(RandomValues(random, keyLength * kvHeads * headDim, 2f));
        var v = RoundToBFloat16(RandomValues(random, keyLength * kvHeads * headDim));
        using var query = backend.Upload(q, 1, queryHeads * headDim);
        using var keyCache = backend.Allocate(keyLength + 7, kvHeads * headDim);
        using var valueCache = backend.Allocate(keyLength + 7, kvHeads * headDim);
        backend.Poison(keyCache);
        backend.Poison(valueCache);
        using (var filledK = backend.Upload(k, keyLength, kvHeads * headDim))
        using (var filledV = backend.Upload(v, keyLength, kvHeads * headDim))
        {
            backend.CopyRows(filledK, 0, keyCache, 0, keyLength);
            backend.CopyRows(filledV, 0, valueCache, 0, keyLength);
        }

        using var output = backend.Allocate(1, queryHeads * headDim);
        backend.Poison(output);
        backend.Attention(new AttentionArguments(query, keyCache, valueCache, output, queryStart, queryHeads, kvHeads, headDim));
        var expected = NaiveReference.Attention(q, k, v, queryStart, 1, queryHeads, kvHeads, headDim);
        AssertClose(Download(backend, output), expected, seed, $"decode over {keyLength} keys, {queryHeads}/{kvHeads} heads, d {headDim}");
    }

    /// <summary>One query at the end of a 2.1M-token cache of 8 KV heads × 128 (offsets past 2^31) agrees with the f32 GPU reference.</summary>
    [Fact]
    public void Decode_at_the_end_of_a_2M_token_cache()
    {
        const long Keys = 2_100_000;
        const int QueryHeads = 32;
        const int KvHeads = 8;
        const int HeadDim = 128;
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        using var query = backend.Upload(RandomValues(random, QueryHeads * HeadDim, 8f), 1, QueryHeads * HeadDim);
        using var keyCache = backend.Allocate(Keys, KvHeads * HeadDim);
        using var valueCache = backend.Allocate(Keys, KvHeads * HeadDim);
        backend.FillRandom(keyCache, (ulong)seed);
        backend.FillRandom(valueCache, (ulong)seed + 1);
        using var output = backend.Allocate(1, QueryHeads * HeadDim);
        backend.Poison(output);
        var arguments = new AttentionArguments(query, keyCache, valueCache, output, Keys - 1, QueryHeads, KvHeads, HeadDim);
        backend.Attention(arguments);
        var expected = backend.ReferenceAttentionRows(arguments, [0]);
        AssertClose(Download(backend, output), expected, seed, "decode over 2.1M keys");
    }
}
