using MInference.Engine;
using MInference.Kernels.Cpu;
using MInference.Shared.Generation;
using MInference.Shared.Models;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// A freshly generated tiny model and a random document, with the CPU engine's last-token logits for it:
/// what the Transfer* stage-worker tests compare against. Deleted on dispose.
/// </summary>
internal sealed class TransferModelCase : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("minference-transfer-").FullName;

    public TransferModelCase(int tokenCount, int referenceChunkTokens, CancellationToken cancellationToken)
    {
        Seed = Numerics.FreshSeed();
        ModelDirectory = Path.Combine(_root, ModelShapes.Tiny);
        Spec = ModelShapes.Get(ModelShapes.Tiny);
        ModelGenerator.Generate(Spec, ModelDirectory, (ulong)Seed, new ModelGeneratorOptions { ShapeName = ModelShapes.Tiny }, cancellationToken: cancellationToken);
        var random = new Random(Seed);
        Tokens = [.. Enumerable.Range(0, tokenCount).Select(_ => random.Next(Spec.VocabSize))];

        using var weights = SafetensorsModelWeights.Open(ModelDirectory);
        using var cpu = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = Math.Min(Environment.ProcessorCount, 8) });
        var runner = new ModelRunner([ModelShard.Load(weights, new LayerRange(0, Spec.LayerCount), cpu, cancellationToken: cancellationToken)]);
        try
        {
            ExpectedLogits = runner.Prefill(runner.CreateSequence(Tokens.Length), Tokens, referenceChunkTokens, cancellationToken: cancellationToken);
        }
        finally
        {
            foreach (var stage in runner.Stages)
            {
                stage.Dispose();
            }
        }
    }

    public int Seed { get; }

    public string ModelDirectory { get; }

    public ModelSpec Spec { get; }

    public int[] Tokens { get; }

    public float[] ExpectedLogits { get; }

    /// <summary>The document in consecutive chunks of at most <paramref name="chunkTokens"/>.</summary>
    public IEnumerable<int[]> Chunks(int chunkTokens) => Tokens.Chunk(chunkTokens);

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
