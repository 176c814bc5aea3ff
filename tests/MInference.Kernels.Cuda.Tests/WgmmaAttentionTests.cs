using MInference.Kernels.Sparse;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// The Hopper wgmma attention kernels (flash_attention_wgmma.cu) against the mma.sync kernels on the same
/// inputs and against the CPU references: ragged spans at offsets into NaN-padded caches, GQA groups 1-8,
/// outputs poisoned. They skip, naming the GPU, where the device is not compute capability 9.0.
/// </summary>
public sealed class WgmmaAttentionTests(CudaFixture fixture)
{
    /// <summary>
    /// Dense causal attention at d 128: the wgmma kernel (the default on sm_90) and the mma.sync default
    /// tiling give the same result on the same inputs within bf16 tolerance, and both equal naive attention;
    /// spans that fill no 192-row block, several blocks, and spans at offsets into a longer cache.
    /// </summary>
    [Theory]
    [InlineData(1, 0, 2, 1)]
    [InlineData(100, 0, 4, 2)]
    [InlineData(77, 300, 8, 2)]
    [InlineData(193, 700, 4, 1)]
    [InlineData(450, 45, 8, 8)]
    [InlineData(129, 3, 16, 2)]
    public void Dense_wgmma_equals_mma_sync_and_naive(int rows, int queryStart, int queryHeads, int kvHeads)
    {
        var backend = WgmmaBackend();
        const int HeadDim = 128;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, HeadDim, queryStart, rows);
        var (q, k, v) = SparseAttentionTests.Inputs(random, span);
        backend.AttentionKernel = FlashAttentionKernel.TensorCore;
        backend.AttentionTiling = null;
        try
        {
            backend.UseWgmma = true;
            var wgmma = SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments => backend.Attention(arguments));
            backend.UseWgmma = false;
            var mma = SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments => backend.Attention(arguments));
            var what = $"rows {rows} at {queryStart}, {queryHeads}/{kvHeads} heads";
            AssertClose(wgmma, mma, seed, $"wgmma vs mma.sync: {what}");
            AssertClose(wgmma, NaiveReference.Attention(q, k, v, queryStart, rows, queryHeads, kvHeads, HeadDim), seed, $"wgmma vs naive: {what}");
        }
        finally
        {
            backend.UseWgmma = true;
        }
    }

    /// <summary>
    /// A-shape at d 128: the wgmma kernel (sink tiles, then window tiles that start anywhere) and the
    /// mma.sync kernel agree on the same inputs, and the wgmma result equals the CPU reference; windows
    /// shorter and longer than a key tile, sinks inside and past the first tile.
    /// </summary>
    [Theory]
    [InlineData(1, 0, 1, 1, 4, 64)]
    [InlineData(100, 0, 4, 2, 4, 30)]
    [InlineData(77, 300, 8, 2, 64, 100)]
    [InlineData(400, 1000, 4, 4, 100, 257)]
    [InlineData(700, 2000, 4, 2, 100, 1000)]
    [InlineData(1000, 5000, 4, 1, 256, 2048)]
    public void AShape_wgmma_equals_mma_sync_and_cpu(int rows, int queryStart, int queryHeads, int kvHeads, int initKeys, int localKeys)
    {
        var backend = WgmmaBackend();
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, WgmmaAttentionTiling.HeadDim, queryStart, rows);
        var (q, k, v) = SparseAttentionTests.Inputs(random, span);
        try
        {
            backend.UseWgmma = true;
            var wgmma = SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments => backend.AShapeAttention(arguments, initKeys, localKeys));
            backend.UseWgmma = false;
            var mma = SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments => backend.AShapeAttention(arguments, initKeys, localKeys));
            var expected = new float[q.Length];
            for (var h = 0; h < queryHeads; h++)
            {
                SparseAttentionCpu.AShape(q, k, v, expected, span, h, initKeys, localKeys);
            }

            var what = $"a-shape rows {rows} at {queryStart}, {queryHeads}/{kvHeads} heads, sink {initKeys}, window {localKeys}";
            AssertClose(wgmma, mma, seed, $"wgmma vs mma.sync: {what}");
            AssertClose(wgmma, expected, seed, $"wgmma vs cpu: {what}");
        }
        finally
        {
            backend.UseWgmma = true;
        }
    }

    /// <summary>
    /// Block-sparse at d 128: the wgmma kernel (one warpgroup per 64-row query block, the index's key blocks
    /// in list order) and the mma.sync kernel agree on the same inputs and index, and the wgmma result equals
    /// the CPU reference; densities from a few blocks to all, ragged last blocks cut at the key length.
    /// </summary>
    [Theory]
    [InlineData(1, 0, 2, 1, 1.0)]
    [InlineData(100, 0, 4, 2, 0.5)]
    [InlineData(77, 300, 8, 2, 0.3)]
    [InlineData(257, 700, 4, 1, 0.25)]
    [InlineData(700, 3000, 8, 8, 0.1)]
    public void BlockSparse_wgmma_equals_mma_sync_and_cpu(int rows, int queryStart, int queryHeads, int kvHeads, double density)
    {
        var backend = WgmmaBackend();
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, WgmmaAttentionTiling.HeadDim, queryStart, rows);
        var indices = Enumerable.Range(0, queryHeads).Select(_ => SparseAttentionTests.RandomBlocks(random, span, density)).ToArray();
        var (q, k, v) = SparseAttentionTests.Inputs(random, span);
        using var index = CudaSparseIndex.BlockSparse(backend, indices);
        try
        {
            backend.UseWgmma = true;
            var wgmma = SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments => backend.SparseAttention(arguments, index));
            backend.UseWgmma = false;
            var mma = SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments => backend.SparseAttention(arguments, index));
            var expected = new float[q.Length];
            for (var h = 0; h < queryHeads; h++)
            {
                SparseAttentionCpu.BlockSparse(q, k, v, expected, span, h, indices[h]);
            }

            var what = $"block-sparse rows {rows} at {queryStart}, {queryHeads}/{kvHeads} heads, density {density}";
            AssertClose(wgmma, mma, seed, $"wgmma vs mma.sync: {what}");
            AssertClose(wgmma, expected, seed, $"wgmma vs cpu: {what}");
        }
        finally
        {
            backend.UseWgmma = true;
        }
    }

    /// <summary>On a compute capability 9.0 device the backend starts with the wgmma kernels on.</summary>
    [Fact]
    public void Wgmma_is_the_default_on_sm90() => Assert.True(WgmmaBackend().UseWgmma);

    private CudaBackend WgmmaBackend()
    {
        var backend = fixture.Backend;
        var device = backend.Context.Device;
        if (!WgmmaAttentionTiling.Supports(device))
        {
            Assert.Skip($"the wgmma kernels need compute capability 9.0; {device.Name} is {device.ComputeMajor}.{device.ComputeMinor}");
        }

        return backend;
    }
}
