using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;
using MInference.Shared.Models;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// Each op of <see cref="CudaBackend"/> against the CPU reference backend (the project's oracle) on
/// the same bf16-rounded inputs, at ragged shapes.
/// </summary>
public sealed class CpuBackendParityTests(CudaFixture fixture) : IDisposable
{
    private readonly CpuBackend _cpu = new(new CpuBackendOptions { MaxDegreeOfParallelism = Math.Min(Environment.ProcessorCount, 8) });

    public void Dispose() => _cpu.Dispose();

    /// <summary>RMSNorm, Linear (with bias), SwiGLU, residual add and RoPE agree with the CPU backend on one random layer-shaped input.</summary>
    [Theory]
    [InlineData(1, 256, 4, 2, 64)]
    [InlineData(93, 512, 8, 2, 64)]
    [InlineData(200, 1024, 8, 4, 128)]
    public void Layer_ops_match_the_cpu_backend(int tokens, int hidden, int queryHeads, int kvHeads, int headDim)
    {
        var gpu = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var x = RoundToBFloat16(RandomValues(random, (long)tokens * hidden, 2f));
        var norm = RoundToBFloat16(RandomValues(random, hidden));
        var projectionRows = queryHeads * headDim;
        var w = RoundToBFloat16(RandomValues(random, (long)projectionRows * hidden, 0.05f));
        var b = RoundToBFloat16(RandomValues(random, projectionRows, 0.1f));
        var gate = RoundToBFloat16(RandomValues(random, (long)tokens * hidden, 3f));
        var spec = RopeSpec(queryHeads, kvHeads, headDim);

        var expected = Run(_cpu, x, norm, w, b, gate, tokens, hidden, projectionRows, headDim, spec);
        var actual = Run(gpu, x, norm, w, b, gate, tokens, hidden, projectionRows, headDim, spec);
        string[] names = ["rmsnorm", "linear+bias", "rope", "swiglu", "add"];
        for (var i = 0; i < names.Length; i++)
        {
            AssertClose(actual[i], expected[i], seed, $"{names[i]} vs CpuBackend");
        }
    }

    /// <summary>Attention of a span at an offset into a longer cache agrees with the CPU backend, GQA included.</summary>
    [Theory]
    [InlineData(FlashAttentionKernel.TensorCore, 150, 70, 8, 2, 64)]
    [InlineData(FlashAttentionKernel.TensorCore, 129, 0, 4, 1, 128)]
    [InlineData(FlashAttentionKernel.Simple, 150, 70, 8, 2, 64)]
    public void Attention_matches_the_cpu_backend(FlashAttentionKernel kernel, int rows, long queryStart, int queryHeads, int kvHeads, int headDim)
    {
        var gpu = fixture.Backend;
        gpu.AttentionKernel = kernel;
        var seed = FreshSeed();
        var random = new Random(seed);
        var keyLength = queryStart + rows;
        var q = RoundToBFloat16(RandomValues(random, (long)rows * queryHeads * headDim, 2f));
        var k = RoundToBFloat16(RandomValues(random, keyLength * kvHeads * headDim, 2f));
        var v = RoundToBFloat16(RandomValues(random, keyLength * kvHeads * headDim));
        AssertClose(Attend(gpu), Attend(_cpu), seed, $"{kernel} attention vs CpuBackend");

        float[] Attend(IComputeBackend backend)
        {
            using var query = backend.Upload(q, rows, queryHeads * headDim);
            using var keys = backend.Upload(k, keyLength, kvHeads * headDim);
            using var values = backend.Upload(v, keyLength, kvHeads * headDim);
            using var output = backend.Allocate(rows, queryHeads * headDim);
            backend.Attention(new AttentionArguments(query, keys, values, output, queryStart, queryHeads, kvHeads, headDim));
            return Download(backend, output);
        }
    }

    private static float[][] Run(IComputeBackend backend, float[] x, float[] norm, float[] w, float[] b, float[] gate, int tokens, int hidden, int projectionRows, int headDim, ModelSpec spec)
    {
        using var input = backend.Upload(x, tokens, hidden);
        using var normWeight = backend.Upload(norm, 1, hidden);
        using var normed = backend.Allocate(tokens, hidden);
        if (backend is CudaBackend cuda)
        {
            cuda.Poison(normed);
        }

        backend.RmsNorm(input, normWeight, 1e-6f, normed);
        var normedValues = Download(backend, normed);

        // Later ops take the CPU's bf16-rounded results as inputs, so each op is compared alone.
        using var normedInput = backend.Upload(RoundToBFloat16(normedValues), tokens, hidden);
        using var weight = backend.Upload(w, projectionRows, hidden);
        using var bias = backend.Upload(b, 1, projectionRows);
        using var projected = backend.Allocate(tokens, projectionRows);
        backend.Linear(normedInput, weight, bias, projected);
        var projectedValues = Download(backend, projected);

        using var rotated = backend.Upload(RoundToBFloat16(projectedValues), tokens, projectionRows);
        backend.ApplyRope(rotated, headDim, 12345, RopeFrequencies.For(spec));
        var rotatedValues = Download(backend, rotated);

        using var gateTensor = backend.Upload(gate, tokens, hidden);
        using var swiglu = backend.Allocate(tokens, hidden);
        backend.SwiGlu(gateTensor, input, swiglu);
        var swigluValues = Download(backend, swiglu);

        backend.AddInPlace(input, gateTensor);
        var sumValues = Download(backend, input);
        return [normedValues, projectedValues, rotatedValues, swigluValues, sumValues];
    }

    private static ModelSpec RopeSpec(int queryHeads, int kvHeads, int headDim) => new()
    {
        Architecture = "LlamaForCausalLM",
        VocabSize = 16,
        HiddenSize = queryHeads * headDim,
        IntermediateSize = 16,
        LayerCount = 1,
        QueryHeadCount = queryHeads,
        KeyValueHeadCount = kvHeads,
        HeadDim = headDim,
        RmsNormEpsilon = 1e-6f,
        RopeTheta = 500000f,
        MaxPositionEmbeddings = 8192,
        RopeScaling = new RopeScaling { Type = RopeScalingType.Llama3, Factor = 8f },
    };
}
