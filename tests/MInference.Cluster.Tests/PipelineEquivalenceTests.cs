using MInference.Shared.Contracts;
using MInference.Shared.Generation;

namespace MInference.Cluster.Tests;

public sealed class PipelineEquivalenceTests(ClusterFixture fixture)
{
    /// <summary>
    /// A document pre-filled in chunks through a 2-stage plan on the cluster gives the same last-position
    /// logits as the single-process engine with one stage and the same chunks, and the result names 2
    /// consecutive stages over all layers.
    /// </summary>
    [Fact]
    public async Task Two_stage_job_equals_single_process_runner()
    {
        var ct = TestContext.Current.CancellationToken;
        var tokens = TestDocuments.Random(seed: 61, length: 150);
        var jobId = "equivalence-" + Guid.NewGuid().ToString("N");

        await fixture.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ModelId, tokens, ChunkTokens: 64, StageCount: 2, IncludeLogits: true), ct);
        var result = await fixture.Client.GetResultAsync(jobId, ct);
        var expected = ReferenceLogits.Compute(fixture.ModelDirectory, tokens, 64, ct);

        Assert.Equal(2, result.Stages.Count);
        Assert.Equal(0, result.Stages[0].FirstLayer);
        Assert.Equal(result.Stages[0].EndLayer, result.Stages[1].FirstLayer);
        Assert.Equal(ModelShapes.Get(ModelShapes.Tiny).LayerCount, result.Stages[1].EndLayer);
        ReferenceLogits.AssertClose(expected, result.Logits);
        var top = expected.Select((l, i) => (l, i)).OrderByDescending(t => t.l).ThenBy(t => t.i).First().i;
        Assert.Equal(top, result.TopTokens[0].TokenId);
    }

    /// <summary>
    /// A chunk-major, pipelined job whose stages sit on all 3 silos (several chunks in flight, each hop
    /// between silos pulled over TCP) gives the logits of the single-stage layer-major run (the whole
    /// prompt as one span), and the silos' data planes fetched at least one payload per hop and chunk.
    /// </summary>
    [Fact]
    public async Task Pipelined_job_across_three_silos_equals_layer_major_engine_and_moves_bytes_over_tcp()
    {
        var ct = TestContext.Current.CancellationToken;
        var tokens = TestDocuments.Random(seed: 83, length: 130);
        const int chunk = 24;
        var jobId = "three-silos-" + Guid.NewGuid().ToString("N");
        var before = await FetchedAsync();

        await fixture.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ThreeLayerModelId, tokens, ChunkTokens: chunk, StageCount: 3, IncludeLogits: true), ct);
        var result = await fixture.Client.GetResultAsync(jobId, ct);
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        var expected = ReferenceLogits.Compute(fixture.ThreeLayerModelDirectory, tokens, chunkTokens: null, ct);
        var after = await FetchedAsync();

        var chunks = (tokens.Length + chunk - 1) / chunk;
        Assert.Equal(3, result.Stages.Count);
        Assert.Equal(fixture.Cluster.Silos.Select(s => s.Name).Order(StringComparer.Ordinal), result.Stages.Select(s => s.StageKey.Split('/')[0]).Order(StringComparer.Ordinal));
        ReferenceLogits.AssertClose(expected, result.Logits);
        Assert.True(after.Transfers - before.Transfers >= 2 * chunks, $"{after.Transfers - before.Transfers} TCP transfers for {chunks} chunks over 2 hops");
        Assert.True(after.Bytes - before.Bytes >= 2L * tokens.Length * spec.HiddenSize * sizeof(float), $"{after.Bytes - before.Bytes} bytes fetched");
    }

    /// <summary>
    /// Cost-balanced (dynamic) chunks over a 2-stage pipeline give the same logits as the layer-major
    /// engine (dense attention does not depend on the chunking), in at least as many chunks as the fixed size
    /// gives and at most twice as many (sizes are whole 64-token blocks below the equal-cost target).
    /// </summary>
    [Fact]
    public async Task Dynamic_chunks_keep_the_result_of_fixed_chunks()
    {
        var ct = TestContext.Current.CancellationToken;
        var tokens = TestDocuments.Random(seed: 89, length: 400);
        var jobId = "dynamic-" + Guid.NewGuid().ToString("N");

        var submitted = await fixture.Client.SubmitAsync(
            jobId, new JobSubmission(ClusterFixture.ModelId, tokens, ChunkTokens: 100, StageCount: 2, IncludeLogits: true, DynamicChunks: true), ct);
        var result = await fixture.Client.GetResultAsync(jobId, ct);
        var expected = ReferenceLogits.Compute(fixture.ModelDirectory, tokens, chunkTokens: null, ct);

        Assert.InRange(submitted.ChunkCount, 4, 8);
        ReferenceLogits.AssertClose(expected, result.Logits);
    }

    private async Task<(long Transfers, long Bytes)> FetchedAsync()
    {
        var statuses = await Task.WhenAll(fixture.Cluster.Silos.Select(s =>
            fixture.Cluster.Client.GetGrain<IStageGrain>(StageKeys.Format(s.Name, 0)).GetStatusAsync()));
        return (statuses.Sum(s => s.TcpTransfersFetched), statuses.Sum(s => s.TcpBytesFetched));
    }
}
