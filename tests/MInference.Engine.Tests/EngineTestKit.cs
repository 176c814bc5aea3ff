using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;
using MInference.Shared.Models;

namespace MInference.Engine.Tests;

/// <summary>Builds runners over random weights and compares engine outputs.</summary>
internal static class EngineTestKit
{
    /// <summary>Two f32 computations of the same math in a different grouping of tokens: only rounding may differ.</summary>
    public const double Tolerance = 1e-5;

    public static int[] RandomTokens(Random random, int count, int vocab)
        => Enumerable.Range(0, count).Select(_ => random.Next(vocab)).ToArray();

    /// <summary>A runner whose stages split the layers at <paramref name="boundaries"/> (none: one stage).</summary>
    public static ModelRunner Runner(IModelWeights weights, IComputeBackend backend, ModelShardOptions? options = null, params int[] boundaries)
    {
        var edges = boundaries.Prepend(0).Append(weights.Spec.LayerCount).ToArray();
        var stages = new List<ModelShard>();
        for (var i = 0; i + 1 < edges.Length; i++)
        {
            stages.Add(ModelShard.Load(weights, new LayerRange(edges[i], edges[i + 1]), backend, options, cancellationToken: TestContext.Current.CancellationToken));
        }

        return new ModelRunner(stages);
    }

    public static CpuBackend Backend() => new(new CpuBackendOptions { MaxDegreeOfParallelism = 2 });

    public static float[] Download(IComputeBackend backend, IDeviceTensor tensor, long rows)
    {
        using var view = tensor.SliceRows(0, rows);
        var values = new float[rows * tensor.Columns];
        backend.Download(view, values);
        return values;
    }

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, double tolerance = Tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        double difference = 0, norm = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(float.IsFinite(actual[i]), $"{what}: element {i} is {actual[i]}");
            var delta = (double)actual[i] - expected[i];
            difference += delta * delta;
            norm += (double)expected[i] * expected[i];
        }

        var error = Math.Sqrt(difference / norm);
        Assert.True(error <= tolerance, $"{what}: relative L2 error {error:E3} exceeds {tolerance:E1}");
    }

    public static ModelSpec Spec(int layers = 3, bool attentionBias = false, bool tied = false, int headDim = 16)
        => RandomModelWeights.TinySpec(layers, attentionBias, tied, headDim);
}
