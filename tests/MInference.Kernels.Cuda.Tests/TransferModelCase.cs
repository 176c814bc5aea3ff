using MInference.Engine;
using MInference.Kernels.Cpu;
using MInference.Shared.Generation;
using MInference.Shared.Models;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// A freshly generated tiny model and a random document, with the CPU engine's last-token logits and KV caches for it:
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
        var sequence = runner.CreateSequence(Tokens.Length);
        try
        {
            ExpectedLogits = runner.Prefill(sequence, Tokens, referenceChunkTokens, cancellationToken: cancellationToken);
            ExpectedKeys = new float[Spec.LayerCount][];
            ExpectedValues = new float[Spec.LayerCount][];
            for (var layer = 0; layer < Spec.LayerCount; layer++)
            {
                ExpectedKeys[layer] = FilledRows(cpu, sequence[0].KeyCache(layer), Tokens.Length);
                ExpectedValues[layer] = FilledRows(cpu, sequence[0].ValueCache(layer), Tokens.Length);
            }
        }
        finally
        {
            foreach (var cache in sequence)
            {
                cache.Dispose();
            }

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

    /// <summary>The CPU engine's K cache per layer after the pre-fill: [tokens, kvHeads * headDim], f32.</summary>
    public float[][] ExpectedKeys { get; }

    /// <summary>The CPU engine's V cache per layer after the pre-fill: [tokens, kvHeads * headDim], f32.</summary>
    public float[][] ExpectedValues { get; }

    /// <summary>The document in consecutive chunks of at most <paramref name="chunkTokens"/>.</summary>
    public IEnumerable<int[]> Chunks(int chunkTokens) => Tokens.Chunk(chunkTokens);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static float[] FilledRows(CpuBackend backend, Backends.IDeviceTensor cache, int tokens)
    {
        var data = new float[tokens * cache.Columns];
        Array.Fill(data, float.NaN);
        using var view = cache.SliceRows(0, tokens);
        backend.Download(view, data);
        return data;
    }
}
