using MInference.Kernels.Backends;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>Dense causal flash attention against the naive f64 CPU attention and the f32 GPU reference kernel.</summary>
public sealed class FlashAttentionTests(CudaFixture fixture)
{
    /// <summary>
    /// Each flash kernel equals naive causal attention for spans at offsets into a longer, NaN-padded
    /// cache (rows past the keys in use must never be read), GQA groups of 1-8, d 64 and 128, ragged
    /// span lengths that don't fill a 64-row block.
    /// </summary>
    [Theory]
    [InlineData(FlashAttentionKernel.TensorCore, 1, 0, 1, 1, 64)]
    [InlineData(FlashAttentionKernel.TensorCore, 64, 0, 2, 1, 64)]
    [InlineData(FlashAttentionKernel.TensorCore, 100, 0, 4, 2, 128)]
    [InlineData(FlashAttentionKernel.TensorCore, 77, 300, 8, 2, 128)]
    [InlineData(FlashAttentionKernel.TensorCore, 130, 1000, 4, 4, 64)]
    [InlineData(FlashAttentionKernel.TensorCore, 1, 5000, 8, 1, 128)]
    [InlineData(FlashAttentionKernel.TensorCore, 200, 37, 16, 2, 64)]
    [InlineData(FlashAttentionKernel.TensorCore, 257, 700, 4, 1, 128)]
    [InlineData(FlashAttentionKernel.Simple, 1, 0, 1, 1, 64)]
    [InlineData(FlashAttentionKernel.Simple, 64, 0, 2, 1, 64)]
    [InlineData(FlashAttentionKernel.Simple, 100, 0, 4, 2, 128)]
    [InlineData(FlashAttentionKernel.Simple, 77, 300, 8, 2, 128)]
    [InlineData(FlashAttentionKernel.Simple, 130, 1000, 4, 4, 64)]
    [InlineData(FlashAttentionKernel.Simple, 1, 5000, 8, 1, 128)]
    [InlineData(FlashAttentionKernel.Simple, 200, 37, 16, 2, 64)]
    [InlineData(FlashAttentionKernel.Simple, 257, 700, 4, 1, 128)]
    public void Flash_attention_matches_naive_attention(FlashAttentionKernel kernel, int rows, long queryStart, int queryHeads, int kvHeads, int headDim)
    {
        var backend = fixture.Backend;
        backend.AttentionKernel = kernel;
        var seed = FreshSeed();
        var random = new Random(seed);
        var keyLength = queryStart + rows;
        var q = RoundToBFloat16(RandomValues(random, (long)rows * queryHeads * headDim, 2f));
        var k = RoundToBFloat16(RandomValues(random, keyLength * kvHeads * headDim, 2f));
        var v = RoundToBFloat16(RandomValues(random, keyLength * kvHeads * headDim));

        using var query = backend.Upload(q, rows, queryHeads * headDim);
        using var keyCache = PoisonedCache(backend, k, keyLength, kvHeads * headDim);
        using var valueCache = PoisonedCache(backend, v, keyLength, kvHeads * headDim);
        using var output = backend.Allocate(rows, queryHeads * headDim);
        backend.Poison(output);
        backend.Attention(new AttentionArguments(query, keyCache, valueCache, output, queryStart, queryHeads, kvHeads, headDim));

        var expected = NaiveReference.Attention(q, k, v, queryStart, rows, queryHeads, kvHeads, headDim);
        AssertClose(Download(backend, output), expected, seed, $"{kernel} flash attention rows {rows} at {queryStart}, {queryHeads}/{kvHeads} heads, d {headDim}");
    }

    /// <summary>The GPU reference kernel (the oracle of the long tests) itself agrees with the naive CPU attention.</summary>
    [Theory]
    [InlineData(90, 40, 4, 2, 64)]
    [InlineData(33, 500, 8, 1, 128)]
    public void Reference_kernel_matches_naive_attention(int rows, long queryStart, int queryHeads, int kvHeads, int headDim)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var keyLength = queryStart + rows;
        var q = RoundToBFloat16(RandomValues(random, (long)rows * queryHeads * headDim, 2f));
        var k = RoundToBFloat16(RandomValues(random, keyLength * kvHeads * headDim, 2f));
        var v = RoundToBFloat16(RandomValues(random, keyLength * kvHeads * headDim));
        using var query = backend.Upload(q, rows, queryHeads * headDim);
        using var keyCache = backend.Upload(k, keyLength, kvHeads * headDim);
        using var valueCache = backend.Upload(v, keyLength, kvHeads * headDim);
        using var output = backend.Allocate(rows, queryHeads * headDim);
        var arguments = new AttentionArguments(query, keyCache, valueCache, output, queryStart, queryHeads, kvHeads, headDim);
        long[] sampled = [0, rows / 2, rows - 1];
        var actual = backend.ReferenceAttentionRows(arguments, sampled);
        var full = NaiveReference.Attention(q, k, v, queryStart, rows, queryHeads, kvHeads, headDim);
        var width = queryHeads * headDim;
        var expected = sampled.SelectMany(r => full.AsSpan((int)r * width, width).ToArray()).ToArray();
        AssertClose(actual, expected, seed, "reference kernel", 1e-4);
    }

    /// <summary>Shapes the kernels can't serve are refused with an ArgumentException naming the problem.</summary>
    [Fact]
    public void Attention_rejects_unsupported_shapes()
    {
        var backend = fixture.Backend;
        using var q96 = backend.Allocate(4, 2 * 96);
        using var kv96 = backend.Allocate(4, 96);
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() => backend.Attention(new AttentionArguments(q96, kv96, kv96, q96, 0, 2, 1, 96)));
        Assert.Contains("head_dim", bad.Message, StringComparison.Ordinal);

        using var q = backend.Allocate(8, 64);
        using var shortCache = backend.Allocate(10, 64);
        using var o = backend.Allocate(8, 64);
        var tooShort = Assert.Throws<ArgumentOutOfRangeException>(() => backend.Attention(new AttentionArguments(q, shortCache, shortCache, o, 5, 1, 1, 64)));
        Assert.Contains("13", tooShort.Message, StringComparison.Ordinal);
    }

    /// <summary>A cache of <paramref name="keyLength"/> + 19 rows whose unused tail is NaN.</summary>
    private static IDeviceTensor PoisonedCache(CudaBackend backend, float[] values, long keyLength, int columns)
    {
        var cache = backend.Allocate(keyLength + 19, columns);
        backend.Poison(cache);
        using var filled = backend.Upload(values, keyLength, columns);
        backend.CopyRows(filled, 0, cache, 0, keyLength);
        return cache;
    }
}
