using MInference.Engine;
using MInference.Kernels.Cpu;
using MInference.Shared.Contracts;
using MInference.Shared.Models;

namespace MInference.Cluster.Tests;

public sealed class PipelineEquivalenceTests(ClusterFixture fixture)
{
    private const float Tolerance = 1e-4f;

    /// <summary>
    /// A document pre-filled in chunks through a 2-stage plan on the cluster (hidden states handed on
    /// through the activation channel) gives the same last-position logits as the single-process
    /// ModelRunner with one stage, and the result names 2 stages.
    /// </summary>
    [Fact]
    public async Task Two_stage_job_equals_single_process_runner()
    {
        var ct = TestContext.Current.CancellationToken;
        var tokens = TestDocuments.Random(seed: 61, length: 150);
        var jobId = "equivalence-" + Guid.NewGuid().ToString("N");

        await fixture.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ModelId, tokens, ChunkTokens: 64, StageCount: 2, IncludeLogits: true), ct);
        var result = await fixture.Client.GetResultAsync(jobId, ct);

        using var weights = SafetensorsModelWeights.Open(fixture.ModelDirectory);
        using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 1 });
        using var shard = ModelShard.Load(weights, new LayerRange(0, weights.Spec.LayerCount), backend, cancellationToken: ct);
        var runner = new ModelRunner([shard]);
        var sequence = runner.CreateSequence(tokens.Length);
        var expected = runner.Prefill(sequence, tokens, 64, cancellationToken: ct);
        sequence[0].Dispose();

        Assert.Equal(2, result.Stages.Count);
        Assert.Equal(0, result.Stages[0].FirstLayer);
        Assert.Equal(result.Stages[0].EndLayer, result.Stages[1].FirstLayer);
        Assert.Equal(weights.Spec.LayerCount, result.Stages[1].EndLayer);
        var actual = Assert.IsType<float[]>(result.Logits);
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(
                Math.Abs(expected[i] - actual[i]) <= Tolerance * Math.Max(1f, Math.Abs(expected[i])),
                $"logit {i}: cluster {actual[i]} vs runner {expected[i]}");
        }

        var top = expected.Select((l, i) => (l, i)).OrderByDescending(t => t.l).ThenBy(t => t.i).First().i;
        Assert.Equal(top, result.TopTokens[0].TokenId);
    }
}
