using MInference.Client;
using MInference.Shared.Contracts;

namespace MInference.Cluster.Tests;

public sealed class KvRetentionTests(ClusterFixture fixture)
{
    /// <summary>
    /// A 2-stage job submitted with KvRetention Keep completes with both stages still holding its KV caches
    /// (open job, bytes in use, progress says retained); ReleaseKvAsync frees them on both stages, and a
    /// second call is a harmless no-op.
    /// </summary>
    [Fact]
    public async Task Keep_holds_the_caches_after_completion_until_released()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "kv-keep-" + Guid.NewGuid().ToString("N");
        var submission = new JobSubmission(ClusterFixture.ModelId, TestDocuments.Random(seed: 211, length: 48), ChunkTokens: 16, StageCount: 2, KvRetention: KvRetention.Keep);

        await fixture.Client.SubmitAsync(jobId, submission, ct);
        var result = await fixture.Client.GetResultAsync(jobId, ct);
        var completed = await fixture.Client.GetProgressAsync(jobId, ct);
        var stages = result.Stages.Select(s => fixture.Cluster.Client.GetGrain<IStageGrain>(s.StageKey)).ToList();
        var kept = await Task.WhenAll(stages.Select(s => s.GetStatusAsync()));

        var released = await fixture.Client.ReleaseKvAsync(jobId, ct);
        var after = await Task.WhenAll(stages.Select(s => s.GetStatusAsync()));
        var again = await fixture.Client.ReleaseKvAsync(jobId, ct);

        Assert.Equal(JobState.Completed, completed.State);
        Assert.True(completed.KvRetained, "the completed Keep job did not report its KV as retained");
        Assert.Equal(2, stages.Count);
        Assert.All(kept, s => Assert.Contains(jobId, s.OpenJobs));
        Assert.All(kept, s => Assert.True(s.KvBytes > 0, $"{s.StageKey} held no KV bytes for the kept job"));
        Assert.False(released.KvRetained);
        Assert.Equal(JobState.Completed, released.State);
        Assert.All(after, s => Assert.DoesNotContain(jobId, s.OpenJobs));
        Assert.False(again.KvRetained);
        Assert.Equal(released.Version, again.Version);
    }

    /// <summary>Cancelling a completed job that kept its KV caches frees them; the job stays completed with its result.</summary>
    [Fact]
    public async Task Cancel_frees_kept_caches_of_a_completed_job()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "kv-keep-cancel-" + Guid.NewGuid().ToString("N");
        await fixture.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ModelId, TestDocuments.Random(seed: 223, length: 32), ChunkTokens: 16, StageCount: 2, KvRetention: KvRetention.Keep), ct);
        var result = await fixture.Client.GetResultAsync(jobId, ct);
        var stages = result.Stages.Select(s => fixture.Cluster.Client.GetGrain<IStageGrain>(s.StageKey)).ToList();
        var kept = await Task.WhenAll(stages.Select(s => s.GetStatusAsync()));

        var cancelled = await fixture.Client.CancelAsync(jobId, ct);
        var after = await Task.WhenAll(stages.Select(s => s.GetStatusAsync()));

        Assert.All(kept, s => Assert.Contains(jobId, s.OpenJobs));
        Assert.Equal(JobState.Completed, cancelled.State);
        Assert.False(cancelled.KvRetained);
        Assert.All(after, s => Assert.DoesNotContain(jobId, s.OpenJobs));
        Assert.NotEmpty((await fixture.Client.GetResultAsync(jobId, ct)).TopTokens);
    }

    /// <summary>A job with the default retention frees its caches on completion and reports nothing retained.</summary>
    [Fact]
    public async Task Release_frees_the_caches_on_completion()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "kv-release-" + Guid.NewGuid().ToString("N");
        await fixture.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ModelId, TestDocuments.Random(seed: 227, length: 32), ChunkTokens: 16, StageCount: 2), ct);
        var result = await fixture.Client.GetResultAsync(jobId, ct);
        var progress = await fixture.Client.GetProgressAsync(jobId, ct);
        var after = await Task.WhenAll(result.Stages.Select(s => fixture.Cluster.Client.GetGrain<IStageGrain>(s.StageKey).GetStatusAsync()));

        Assert.False(progress.KvRetained);
        Assert.All(after, s => Assert.DoesNotContain(jobId, s.OpenJobs));
    }

    /// <summary>
    /// Bad retention options are typed input errors naming the value: an undefined KvRetention, Export with
    /// a relative directory, and a KvExportDirectory without Export; the job stays unknown.
    /// </summary>
    [Theory]
    [InlineData(7, null, "7")]
    [InlineData((int)KvRetention.Export, "exports", "'exports'")]
    [InlineData((int)KvRetention.Keep, "some-dir", "some-dir")]
    public async Task Bad_retention_options_are_refused(int retention, string? directory, string named)
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "kv-bad-" + Guid.NewGuid().ToString("N");
        var submission = new JobSubmission(ClusterFixture.ModelId, TestDocuments.Random(seed: 229, length: 8), KvRetention: (KvRetention)retention, KvExportDirectory: directory);

        var error = await Assert.ThrowsAsync<MInferenceInputException>(() => fixture.Client.SubmitAsync(jobId, submission, ct));

        Assert.Contains(named, error.Message, StringComparison.Ordinal);
        Assert.Contains("KvRetention", error.Message, StringComparison.Ordinal);
        Assert.Equal(JobState.Unknown, (await fixture.Client.GetProgressAsync(jobId, ct)).State);
    }
}
