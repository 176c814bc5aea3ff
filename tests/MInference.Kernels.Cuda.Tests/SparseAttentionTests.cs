using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// The sparse attention kernels (sparse_attention_mma.cu) against <see cref="SparseAttentionCpu"/> on the
/// same bf16-rounded inputs and the same CPU-built index, one random index per query head; spans at
/// offsets into a longer NaN-padded cache, ragged lengths, GQA groups 1-8, d 64 and 128.
/// </summary>
public sealed class SparseAttentionTests(CudaFixture fixture)
{
    /// <summary>
    /// Vertical-Slash: each head's ranges (causal) and gathered columns give the CPU's result; covers
    /// merged ranges, columns in several 64-wide tiles and blocks with no columns.
    /// </summary>
    [Theory]
    [InlineData(1, 0, 1, 1, 64, 3, 2)]
    [InlineData(64, 0, 2, 1, 64, 10, 5)]
    [InlineData(100, 0, 4, 2, 128, 20, 8)]
    [InlineData(77, 300, 8, 2, 128, 150, 12)]
    [InlineData(130, 1000, 4, 4, 64, 70, 30)]
    [InlineData(257, 700, 4, 1, 128, 200, 40)]
    [InlineData(333, 4000, 8, 1, 128, 300, 25)]
    public void Vertical_slash_matches_cpu(int rows, int queryStart, int queryHeads, int kvHeads, int headDim, int columns, int offsets)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, headDim, queryStart, rows);
        var indices = Enumerable.Range(0, queryHeads)
            .Select(_ => VerticalSlashBlockIndex.Build(RandomSelection(random, span, columns, offsets)))
            .ToArray();
        var (q, k, v) = Inputs(random, span);
        using var index = CudaSparseIndex.VerticalSlash(backend, indices);

        var actual = RunGpu(backend, span, q, k, v, arguments => backend.SparseAttention(arguments, index));
        var expected = new float[q.Length];
        for (var h = 0; h < queryHeads; h++)
        {
            SparseAttentionCpu.VerticalSlash(q, k, v, expected, span, h, indices[h]);
        }

        AssertClose(actual, expected, seed, $"vertical-slash rows {rows} at {queryStart}, {queryHeads}/{kvHeads} heads, d {headDim}, {columns} columns, {offsets} offsets");
    }

    /// <summary>Block-Sparse: each head's chosen key blocks (diagonal blocks always, others at random) give the CPU's result.</summary>
    [Theory]
    [InlineData(1, 0, 1, 1, 64, 0.5)]
    [InlineData(64, 0, 2, 1, 64, 0.5)]
    [InlineData(100, 0, 4, 2, 128, 0.3)]
    [InlineData(77, 300, 8, 2, 128, 0.2)]
    [InlineData(130, 1000, 4, 4, 64, 0.1)]
    [InlineData(257, 700, 4, 1, 128, 0.25)]
    [InlineData(333, 4000, 8, 1, 128, 0.05)]
    public void Block_sparse_matches_cpu(int rows, int queryStart, int queryHeads, int kvHeads, int headDim, double density)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, headDim, queryStart, rows);
        var indices = Enumerable.Range(0, queryHeads).Select(_ => RandomBlocks(random, span, density)).ToArray();
        var (q, k, v) = Inputs(random, span);
        using var index = CudaSparseIndex.BlockSparse(backend, indices);

        var actual = RunGpu(backend, span, q, k, v, arguments => backend.SparseAttention(arguments, index));
        var expected = new float[q.Length];
        for (var h = 0; h < queryHeads; h++)
        {
            SparseAttentionCpu.BlockSparse(q, k, v, expected, span, h, indices[h]);
        }

        AssertClose(actual, expected, seed, $"block-sparse rows {rows} at {queryStart}, {queryHeads}/{kvHeads} heads, d {headDim}, density {density}");
    }

    /// <summary>
    /// Head pairs: one index per pair of query heads of a KV group, both heads computed in one block
    /// (SparseAttentionHeadPairs), equal the CPU reference run with the pair's index on each of its heads,
    /// for Vertical-Slash and Block-Sparse (pairs listed out of order, GQA groups of 2-8).
    /// </summary>
    [Theory]
    [InlineData(1, 0, 2, 1, 64, 3, 2, 0.5)]
    [InlineData(100, 0, 4, 2, 128, 20, 8, 0.3)]
    [InlineData(77, 300, 8, 2, 128, 150, 12, 0.2)]
    [InlineData(257, 700, 4, 1, 128, 200, 40, 0.25)]
    [InlineData(333, 4000, 8, 1, 64, 300, 25, 0.05)]
    public void Head_pairs_match_cpu(int rows, int queryStart, int queryHeads, int kvHeads, int headDim, int columns, int offsets, double density)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, headDim, queryStart, rows);
        var (q, k, v) = Inputs(random, span);

        // Every head in some pair; slots in reverse order, so slot s is not pair s.
        var firstHeads = Enumerable.Range(0, queryHeads / 2).Select(p => queryHeads - 2 - (2 * p)).ToArray();
        var vs = firstHeads.Select(_ => VerticalSlashBlockIndex.Build(RandomSelection(random, span, columns, offsets))).ToArray();
        var bs = firstHeads.Select(_ => RandomBlocks(random, span, density)).ToArray();
        using var vsIndex = CudaSparseIndex.VerticalSlash(backend, vs);
        using var bsIndex = CudaSparseIndex.BlockSparse(backend, bs);

        var vsActual = RunGpu(backend, span, q, k, v, arguments => backend.SparseAttentionHeadPairs(arguments, vsIndex, firstHeads));
        var bsActual = RunGpu(backend, span, q, k, v, arguments => backend.SparseAttentionHeadPairs(arguments, bsIndex, firstHeads));
        var vsExpected = Enumerable.Repeat(float.NaN, q.Length).ToArray();
        var bsExpected = Enumerable.Repeat(float.NaN, q.Length).ToArray();
        for (var p = 0; p < firstHeads.Length; p++)
        {
            foreach (var h in new[] { firstHeads[p], firstHeads[p] + 1 })
            {
                SparseAttentionCpu.VerticalSlash(q, k, v, vsExpected, span, h, vs[p]);
                SparseAttentionCpu.BlockSparse(q, k, v, bsExpected, span, h, bs[p]);
            }
        }

        var context = $"rows {rows} at {queryStart}, {queryHeads}/{kvHeads} heads, d {headDim}, pairs from [{string.Join(", ", firstHeads)}]";
        AssertClose(vsActual, vsExpected, seed, "vertical-slash head pairs, " + context);
        AssertClose(bsActual, bsExpected, seed, "block-sparse head pairs, " + context);
    }

    /// <summary>
    /// A-shape: sink plus local window, keys in both counted once, equals the CPU's result (windows shorter
    /// and longer than a tile; spans of one and several 256-row blocks, ragged last blocks).
    /// </summary>
    [Theory]
    [InlineData(1, 0, 1, 1, 64, 4, 64)]
    [InlineData(100, 0, 4, 2, 128, 4, 30)]
    [InlineData(77, 300, 8, 2, 128, 64, 100)]
    [InlineData(130, 1000, 4, 4, 64, 100, 257)]
    [InlineData(257, 700, 4, 1, 128, 1, 1)]
    [InlineData(333, 4000, 8, 1, 128, 70, 500)]
    [InlineData(700, 2000, 4, 2, 128, 100, 1000)]
    [InlineData(513, 0, 8, 2, 64, 30, 300)]
    [InlineData(1000, 5000, 4, 1, 128, 256, 2048)]
    public void A_shape_matches_cpu(int rows, int queryStart, int queryHeads, int kvHeads, int headDim, int initKeys, int localKeys)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, headDim, queryStart, rows);
        var (q, k, v) = Inputs(random, span);

        var actual = RunGpu(backend, span, q, k, v, arguments => backend.AShapeAttention(arguments, initKeys, localKeys));
        var expected = new float[q.Length];
        for (var h = 0; h < queryHeads; h++)
        {
            SparseAttentionCpu.AShape(q, k, v, expected, span, h, initKeys, localKeys);
        }

        AssertClose(actual, expected, seed, $"a-shape rows {rows} at {queryStart}, {queryHeads}/{kvHeads} heads, d {headDim}, sink {initKeys}, window {localKeys}");
    }

    /// <summary>
    /// Full budgets are dense attention: every slash offset, every key block, or a window covering the
    /// whole cache give the dense tensor-core kernel's result on the GPU.
    /// </summary>
    [Theory]
    [InlineData(200, 0, 4, 2, 128)]
    [InlineData(150, 613, 8, 1, 64)]
    public void Full_budgets_equal_dense_attention(int rows, int queryStart, int queryHeads, int kvHeads, int headDim)
    {
        var backend = fixture.Backend;
        backend.AttentionKernel = FlashAttentionKernel.TensorCore;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, headDim, queryStart, rows);
        var (q, k, v) = Inputs(random, span);
        var dense = RunGpu(backend, span, q, k, v, arguments => backend.Attention(arguments));

        var allOffsets = new VerticalSlashSelection(queryStart, rows, [], Enumerable.Range(0, span.KeyLength).ToArray());
        using (var vs = CudaSparseIndex.VerticalSlash(backend, Enumerable.Repeat(VerticalSlashBlockIndex.Build(allOffsets), queryHeads).ToArray()))
        {
            AssertClose(RunGpu(backend, span, q, k, v, arguments => backend.SparseAttention(arguments, vs)), dense, seed, "vertical-slash, all offsets");
        }

        using (var bs = CudaSparseIndex.BlockSparse(backend, Enumerable.Repeat(RandomBlocks(random, span, 1.0), queryHeads).ToArray()))
        {
            AssertClose(RunGpu(backend, span, q, k, v, arguments => backend.SparseAttention(arguments, bs)), dense, seed, "block-sparse, all blocks");
        }

        AssertClose(RunGpu(backend, span, q, k, v, arguments => backend.AShapeAttention(arguments, 1, span.KeyLength)), dense, seed, "a-shape, window over the whole cache");
    }

    /// <summary>An index built for another span or head count is refused, naming both.</summary>
    [Fact]
    public void Mismatched_index_is_refused()
    {
        var backend = fixture.Backend;
        var span = new SparseSpan(2, 1, 64, 10, 70);
        var selection = new VerticalSlashSelection(10, 70, [1, 2], [0, 5]);
        using var index = CudaSparseIndex.VerticalSlash(backend, [VerticalSlashBlockIndex.Build(selection)]);
        using var q = backend.Allocate(span.SpanLength, span.QueryStride);
        using var cache = backend.Allocate(span.KeyLength, span.KeyValueStride);
        using var o = backend.Allocate(span.SpanLength, span.QueryStride);
        var error = Assert.Throws<ArgumentException>(() => backend.SparseAttention(new AttentionArguments(q, cache, cache, o, 10, 2, 1, 64), index));
        Assert.Contains("1 heads", error.Message, StringComparison.Ordinal);
    }

    internal static (float[] Q, float[] K, float[] V) Inputs(Random random, SparseSpan span)
    {
        var q = RoundToBFloat16(RandomValues(random, (long)span.SpanLength * span.QueryStride, 2f));
        var k = RoundToBFloat16(RandomValues(random, (long)span.KeyLength * span.KeyValueStride, 2f));
        var v = RoundToBFloat16(RandomValues(random, (long)span.KeyLength * span.KeyValueStride));
        return (q, k, v);
    }

    /// <summary>Uploads the inputs (caches 19 NaN rows longer than the keys in use), poisons the output, runs, downloads.</summary>
    internal static float[] RunGpu(CudaBackend backend, SparseSpan span, float[] q, float[] k, float[] v, Action<AttentionArguments> run)
    {
        using var query = backend.Upload(q, span.SpanLength, span.QueryStride);
        using var keyCache = PoisonedCache(backend, k, span.KeyLength, span.KeyValueStride);
        using var valueCache = PoisonedCache(backend, v, span.KeyLength, span.KeyValueStride);
        using var output = backend.Allocate(span.SpanLength, span.QueryStride);
        backend.Poison(output);
        run(new AttentionArguments(query, keyCache, valueCache, output, span.SpanStart, span.QueryHeads, span.KeyValueHeads, span.HeadDim));
        var result = Download(backend, output);
        backend.Synchronize();
        return result;
    }

    private static IDeviceTensor PoisonedCache(CudaBackend backend, float[] values, long keyLength, int columns)
    {
        var cache = backend.Allocate(keyLength + 19, columns);
        backend.Poison(cache);
        using var filled = backend.Upload(values, keyLength, columns);
        backend.CopyRows(filled, 0, cache, 0, keyLength);
        return cache;
    }

    /// <summary>Offset 0 plus up to <paramref name="offsets"/> - 1 random offsets; up to <paramref name="columns"/> random columns.</summary>
    internal static VerticalSlashSelection RandomSelection(Random random, SparseSpan span, int columns, int offsets)
    {
        var keyLength = span.KeyLength;
        var chosenOffsets = new SortedSet<int> { 0 };
        while (chosenOffsets.Count < Math.Min(offsets, keyLength))
        {
            chosenOffsets.Add(random.Next(keyLength));
        }

        var chosenColumns = new SortedSet<int>();
        while (chosenColumns.Count < Math.Min(columns, keyLength))
        {
            chosenColumns.Add(random.Next(keyLength));
        }

        return new VerticalSlashSelection(span.SpanStart, span.SpanLength, [.. chosenColumns], [.. chosenOffsets]);
    }

    /// <summary>Per query block: the key blocks holding its own positions, and each earlier block with probability <paramref name="density"/>.</summary>
    internal static BlockSparseIndex RandomBlocks(Random random, SparseSpan span, double density)
    {
        var offsets = new int[span.QueryBlocks + 1];
        var blocks = new List<int>();
        for (var b = 0; b < span.QueryBlocks; b++)
        {
            var first = span.SpanStart + (b * SparseSpan.QueryBlock);
            var last = span.SpanStart + Math.Min((b + 1) * SparseSpan.QueryBlock, span.SpanLength) - 1;
            for (var kb = 0; kb <= last / SparseSpan.KeyBlock; kb++)
            {
                if (kb >= first / SparseSpan.KeyBlock || random.NextDouble() < density)
                {
                    blocks.Add(kb);
                }
            }

            offsets[b + 1] = blocks.Count;
        }

        return new BlockSparseIndex(span.SpanStart, span.SpanLength, offsets, [.. blocks]);
    }
}
