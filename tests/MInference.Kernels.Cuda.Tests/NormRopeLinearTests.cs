using MInference.Kernels.Backends;
using MInference.Shared.Models;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>RMSNorm, RoPE and Linear (cuBLAS) against CPU formulas on bf16-rounded inputs.</summary>
public sealed class NormRopeLinearTests(CudaFixture fixture)
{
    /// <summary>RMSNorm normalises each row and scales by the weight, at ragged row and column counts.</summary>
    [Theory]
    [InlineData(1, 64)]
    [InlineData(37, 1000)]
    [InlineData(300, 4096)]
    public void RmsNorm_matches_cpu(int rows, int columns)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var x = RoundToBFloat16(RandomValues(random, (long)rows * columns, 3f));
        var w = RoundToBFloat16(RandomValues(random, columns));
        using var input = backend.Upload(x, rows, columns);
        using var weight = backend.Upload(w, 1, columns);
        using var output = backend.Allocate(rows, columns);
        backend.Poison(output);
        backend.RmsNorm(input, weight, 1e-5f, output);
        AssertClose(Download(backend, output), NaiveReference.RmsNorm(x, w, columns, 1e-5f), seed, "rmsnorm");
    }

    /// <summary>RoPE rotates pairs (i, i + d/2) of each head by position × inverse frequency, at small and ~1M positions, with and without llama3 scaling.</summary>
    [Theory]
    [InlineData(5, 4, 2, 64, 0L, false)]
    [InlineData(70, 8, 2, 128, 1_000_003L, true)]
    [InlineData(33, 2, 2, 128, 17L, true)]
    public void Rope_matches_cpu(int rows, int queryHeads, int kvHeads, int headDim, long firstPosition, bool llama3Scaling)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var spec = new ModelSpec
        {
            Architecture = "LlamaForCausalLM",
            VocabSize = 16,
            HiddenSize = queryHeads * headDim,
            IntermediateSize = 16,
            LayerCount = 1,
            QueryHeadCount = queryHeads,
            KeyValueHeadCount = kvHeads,
            HeadDim = headDim,
            RmsNormEpsilon = 1e-5f,
            RopeTheta = 500000f,
            MaxPositionEmbeddings = 131072,
            RopeScaling = llama3Scaling ? new RopeScaling { Type = RopeScalingType.Llama3, Factor = 8f } : null,
        };
        var frequencies = RopeFrequencies.For(spec);
        var columns = queryHeads * headDim;
        var x = RoundToBFloat16(RandomValues(random, (long)rows * columns));
        using var tensor = backend.Upload(x, rows, columns);
        backend.ApplyRope(tensor, headDim, firstPosition, frequencies);
        AssertClose(Download(backend, tensor), NaiveReference.Rope(x, columns, headDim, firstPosition, frequencies.AsSpan()), seed, "rope");
    }

    /// <summary>Linear computes input · weightᵀ (+ bias) through cuBLAS, at shapes that are not multiples of the GEMM tiles.</summary>
    [Theory]
    [InlineData(1, 64, 32, false)]
    [InlineData(37, 200, 136, true)]
    [InlineData(130, 1024, 512, false)]
    [InlineData(5, 4096, 1000, true)]
    public void Linear_matches_cpu(int n, int k, int m, bool withBias)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var x = RoundToBFloat16(RandomValues(random, (long)n * k));
        var w = RoundToBFloat16(RandomValues(random, (long)m * k, 0.1f));
        var b = withBias ? RoundToBFloat16(RandomValues(random, m)) : null;
        using var input = backend.Upload(x, n, k);
        using var weight = backend.Upload(w, m, k);
        using var bias = b is null ? null : backend.Upload(b, 1, m);
        using var output = backend.Allocate(n, m);
        backend.Poison(output);
        backend.Linear(input, weight, bias, output);
        AssertClose(Download(backend, output), NaiveReference.Linear(x, w, b, n, m, k), seed, "linear");
    }

    /// <summary>UploadWeight accepts bf16, f16 and f32 bytes and stores the same bf16 values.</summary>
    [Fact]
    public void UploadWeight_converts_each_source_dtype()
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var values = RoundToBFloat16(RandomValues(new Random(seed), 33 * 17));
        var asF32 = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        var asBf16 = values.SelectMany(v => BitConverter.GetBytes((ushort)(BitConverter.SingleToUInt32Bits(v) >> 16))).ToArray();
        var asF16 = values.SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray();
        using var fromF32 = backend.UploadWeight(asF32, TensorDType.Float32, 33, 17);
        using var fromBf16 = backend.UploadWeight(asBf16, TensorDType.BFloat16, 33, 17);
        using var fromF16 = backend.UploadWeight(asF16, TensorDType.Float16, 33, 17);
        Assert.Equal(values, Download(backend, fromF32));
        Assert.Equal(values, Download(backend, fromBf16));
        AssertClose(Download(backend, fromF16), values, seed, "f16 weight", 5e-3);
    }
}
