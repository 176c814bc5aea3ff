using MInference.Shared.Contracts;

namespace MInference.Cluster.Tests;

public sealed class CancellationTests(ClusterFixture fixture)
{
    /// <summary>
    /// A running 2-stage job (held before chunk 1) holds KV caches on both stages; cancelling it ends it
    /// Cancelled and both stages free the job's KV memory and parked activations.
    /// </summary>
    [Fact]
    public async Task Cancel_frees_the_stages_kv_memory()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = TestChunkGate.Prefix + Guid.NewGuid().ToString("N");
        await fixture.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ModelId, TestDocuments.Random(seed: 79, length: 96), ChunkTokens: 32, StageCount: 2), ct);
        await TestChunkGate.Instance.Reached(jobId).WaitAsync(ct);
        // Chunk 0 is pipelined past the gate; once it left the last stage both stages hold its KV.
        var running = await fixture.Client.WatchAsync(jobId, ct).FirstAsync(p => p.ChunksDone >= 1, ct);
        var stages = running.StageKeys!.Select(k => fixture.Cluster.Client.GetGrain<IStageGrain>(k)).ToList();
        var before = await Task.WhenAll(stages.Select(s => s.GetStatusAsync()));

        await fixture.Client.CancelAsync(jobId, ct);
        var final = await fixture.Client.WatchAsync(jobId, ct).LastAsync(ct);
        var after = await Task.WhenAll(stages.Select(s => s.GetStatusAsync()));

        Assert.Equal(JobState.Running, running.State);
        Assert.Equal(2, stages.Count);
        Assert.All(before, s => Assert.Contains(jobId, s.OpenJobs));
        Assert.All(before, s => Assert.True(s.KvBytes > 0, $"{s.StageKey} held no KV bytes while the job ran"));
        Assert.Equal(JobState.Cancelled, final.State);
        Assert.Equal(1, final.ChunksDone);
        Assert.All(after, s => Assert.DoesNotContain(jobId, s.OpenJobs));
    }
}
