using MInference.Engine;
using MInference.Kernels.Cpu;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Cluster.Tests;

/// <summary>Last-position logits of the single-process engine, the oracle cluster results are compared with.</summary>
internal static class ReferenceLogits
{
    /// <summary>Relative tolerance between the cluster's chunked pipeline and the engine (f32, different summation order).</summary>
    public const float Tolerance = 1e-4f;

    /// <summary>One stage over all layers; <paramref name="chunkTokens"/> null runs the whole prompt as one span (layer-major).</summary>
    public static float[] Compute(string modelDirectory, int[] tokens, int? chunkTokens, CancellationToken cancellationToken)
        => Compute(modelDirectory, tokens, chunkTokens, null, cancellationToken);

    /// <summary>As above, with the heads' sparse <paramref name="patterns"/> (null: dense).</summary>
    public static float[] Compute(string modelDirectory, int[] tokens, int? chunkTokens, PatternConfig? patterns, CancellationToken cancellationToken)
    {
        using var weights = SafetensorsModelWeights.Open(modelDirectory);
        using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 1 });
        using var shard = ModelShard.Load(weights, new LayerRange(0, weights.Spec.LayerCount), backend, new ModelShardOptions { Patterns = patterns }, cancellationToken);
        var runner = new ModelRunner([shard]);
        var sequence = runner.CreateSequence(tokens.Length);
        try
        {
            return runner.Prefill(sequence, tokens, chunkTokens ?? tokens.Length, cancellationToken: cancellationToken);
        }
        finally
        {
            sequence[0].Dispose();
        }
    }

    public static void AssertClose(float[] expected, float[]? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(
                Math.Abs(expected[i] - actual[i]) <= Tolerance * Math.Max(1f, Math.Abs(expected[i])),
                $"logit {i}: cluster {actual[i]} vs engine {expected[i]}");
        }
    }
}
