using MInference.Engine;
using MInference.Kernels.Cpu;
using MInference.Shared.Generation;
using MInference.Shared.Models;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>The model-shard runtime on the GPU against the same runtime on the CPU backend.</summary>
public sealed class EngineOnGpuTests(CudaFixture fixture) : IDisposable
{
    /// <summary>bf16 activations through every layer drift further than one op; still far below what a wrong op gives.</summary>
    internal const double LogitTolerance = 3e-2;

    private readonly string _root = Directory.CreateTempSubdirectory("minference-cuda-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// A generated model (Llama and Qwen2 layouts, GQA, d 64) pre-filled on the GPU in uneven chunks
    /// gives the last-token logits of the CPU engine's single-span pre-fill.
    /// </summary>
    [Theory]
    [InlineData(ModelShapes.Tiny)]
    [InlineData(ModelShapes.TinyQwen2)]
    public void Generated_model_logits_match_the_cpu_engine(string shape)
    {
        var gpu = fixture.Backend;
        gpu.AttentionKernel = FlashAttentionKernel.TensorCore;
        var cancellationToken = TestContext.Current.CancellationToken;
        var seed = FreshSeed();
        var directory = Path.Combine(_root, shape);
        var spec = ModelShapes.Get(shape);
        ModelGenerator.Generate(spec, directory, (ulong)seed, new ModelGeneratorOptions { ShapeName = shape }, cancellationToken: cancellationToken);
        var random = new Random(seed);
        var tokens = Enumerable.Range(0, 301).Select(_ => random.Next(spec.VocabSize)).ToArray();

        using var weights = SafetensorsModelWeights.Open(directory);
        using var cpu = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = Math.Min(Environment.ProcessorCount, 8) });
        var cpuRunner = new ModelRunner([ModelShard.Load(weights, new LayerRange(0, spec.LayerCount), cpu, cancellationToken: cancellationToken)]);
        var expected = cpuRunner.Prefill(cpuRunner.CreateSequence(tokens.Length), tokens, chunkTokens: tokens.Length, cancellationToken: cancellationToken);

        var gpuRunner = new ModelRunner([ModelShard.Load(weights, new LayerRange(0, spec.LayerCount), gpu, cancellationToken: cancellationToken)]);
        var actual = gpuRunner.Prefill(gpuRunner.CreateSequence(tokens.Length), tokens, chunkTokens: 97, cancellationToken: cancellationToken);
        foreach (var stage in gpuRunner.Stages)
        {
            stage.Dispose();
        }

        foreach (var stage in cpuRunner.Stages)
        {
            stage.Dispose();
        }

        TestContext.Current.SendDiagnosticMessage($"{shape}: logits relative L2 {RelativeL2(actual, expected):E3}");
        AssertClose(actual, expected, seed, $"{shape} GPU vs CPU engine logits", LogitTolerance);
    }
}
