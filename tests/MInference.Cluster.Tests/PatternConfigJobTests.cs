using MInference.Shared.Contracts;
using MInference.Shared.Generation;
using MInference.Shared.Patterns;

namespace MInference.Cluster.Tests;

public sealed class PatternConfigJobTests(ClusterFixture fixture)
{
    /// <summary>
    /// A job that brings its own pattern config (A-shape on every head) runs its stages with it: its logits
    /// equal the engine's with the same patterns and chunks, and differ from the dense engine's; the result
    /// reports each layer's measured density, below 1 since the window leaves keys out.
    /// </summary>
    [Fact]
    public async Task Job_pattern_config_reaches_the_stages()
    {
        var ct = TestContext.Current.CancellationToken;
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        var patterns = PatternConfig.Uniform(spec.LayerCount, spec.QueryHeadCount, HeadPattern.AShape(16, 48));
        var tokens = TestDocuments.Random(seed: 401, length: 130);
        var jobId = "patterns-" + Guid.NewGuid().ToString("N");

        await fixture.Client.SubmitAsync(
            jobId,
            new JobSubmission(ClusterFixture.ModelId, tokens, ChunkTokens: 32, StageCount: 2, IncludeLogits: true, PatternConfig: PatternConfigJson.Serialize(patterns)),
            ct);
        var result = await fixture.Client.GetResultAsync(jobId, ct);
        var sparse = ReferenceLogits.Compute(fixture.ModelDirectory, tokens, 32, patterns, ct);
        var dense = ReferenceLogits.Compute(fixture.ModelDirectory, tokens, 32, ct);

        ReferenceLogits.AssertClose(sparse, result.Logits);
        Assert.True(
            sparse.Zip(dense).Max(p => Math.Abs(p.First - p.Second)) > 100 * ReferenceLogits.Tolerance,
            "the A-shape run gave the dense logits: the test cannot tell whether the patterns were applied");
        Assert.NotNull(result.Density);
        Assert.Equal(Enumerable.Range(0, spec.LayerCount), result.Density.Select(d => d.Layer));
        Assert.All(result.Density, d =>
        {
            Assert.Equal(CausalPairs(tokens.Length) * spec.QueryHeadCount, d.CausalPairs);
            Assert.True(d.Measured, $"layer {d.Layer}'s density was not measured");
            Assert.InRange(d.Density, 0.05, 0.99);
        });
    }

    /// <summary>A dense job reports density 1 for every layer.</summary>
    [Fact]
    public async Task Dense_job_reports_full_density()
    {
        var ct = TestContext.Current.CancellationToken;
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        var tokens = TestDocuments.Random(seed: 402, length: 100);
        var jobId = "dense-density-" + Guid.NewGuid().ToString("N");

        await fixture.Client.SubmitAsync(
            jobId, new JobSubmission(ClusterFixture.ModelId, tokens, ChunkTokens: 40, PatternConfig: JobSubmission.DensePatternConfig), ct);
        var result = await fixture.Client.GetResultAsync(jobId, ct);

        Assert.NotNull(result.Density);
        Assert.Equal(spec.LayerCount, result.Density.Count);
        Assert.All(result.Density, d => Assert.Equal(d.CausalPairs, d.CoveredPairs));
        Assert.All(result.Density, d => Assert.Equal(CausalPairs(tokens.Length) * spec.QueryHeadCount, d.CausalPairs));
    }

    /// <summary>Causal (query, key) pairs of one head over a prompt of <paramref name="tokens"/> tokens.</summary>
    private static long CausalPairs(long tokens) => tokens * (tokens + 1) / 2;
}
