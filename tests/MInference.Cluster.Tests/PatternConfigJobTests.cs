using MInference.Shared.Contracts;
using MInference.Shared.Generation;
using MInference.Shared.Patterns;

namespace MInference.Cluster.Tests;

public sealed class PatternConfigJobTests(ClusterFixture fixture)
{
    /// <summary>
    /// A job that brings its own pattern config (A-shape on every head) runs its stages with it: its logits
    /// equal the engine's with the same patterns and chunks, and differ from the dense engine's.
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
    }
}
