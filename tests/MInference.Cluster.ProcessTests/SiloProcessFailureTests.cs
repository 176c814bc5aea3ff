using MInference.Shared.Contracts;

namespace MInference.Cluster.ProcessTests;

public sealed class SiloProcessFailureTests
{
    /// <summary>Chunks of the killed job: enough that the kill lands while most of them are still to run.</summary>
    private const int DocumentTokens = 4096;

    private const int ChunkTokens = 64;

    /// <summary>
    /// Kills (SIGKILL, no drain) the silo process whose device runs a job's stage while the job is
    /// mid-way; the job still completes (re-planned onto the surviving silo, restarted from the start)
    /// and gives the same top tokens as the same document run afterwards on the surviving silo alone.
    /// </summary>
    [Fact]
    public async Task Job_finishes_after_its_stage_silo_process_is_killed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await ProcessCluster.CreateAsync(siloCount: 2, ct);
        await cluster.StartSilosAsync(ct);
        var client = await cluster.ConnectClientAsync(ct);
        var jobId = "killed-" + Guid.NewGuid().ToString("N");
        var submission = new JobSubmission(ProcessCluster.ModelId, TestDocuments.Random(seed: 613, length: DocumentTokens), ChunkTokens, StageCount: 1);

        await client.SubmitAsync(jobId, submission, ct);
        JobProgress? atKill = null;
        string? killed = null;
        await foreach (var progress in client.WatchAsync(jobId, ct))
        {
            if (progress is { State: JobState.Running, ChunksDone: > 0, StageKeys: [var stage, ..] } && StageKeys.TryParse(stage, out var silo, out _))
            {
                atKill = progress;
                killed = silo;
                await cluster.KillSiloAsync(silo);
                break;
            }

            Assert.False(progress.IsFinal, $"the job ended {progress.State} before its stage silo could be killed: {progress.Error}");
        }

        var result = await client.GetResultAsync(jobId, ct);
        var reference = "reference-" + Guid.NewGuid().ToString("N");
        await client.SubmitAsync(reference, submission, ct);
        var expected = await client.GetResultAsync(reference, ct);

        Assert.NotNull(atKill);
        Assert.True(atKill.ChunksDone < atKill.ChunkCount, $"the kill came after the last chunk ({atKill.ChunksDone}/{atKill.ChunkCount})");
        Assert.All(result.Stages, s => Assert.NotEqual(killed, StageKeys.TryParse(s.StageKey, out var silo, out _) ? silo : null));
        Assert.Equal(expected.TopTokens.Select(t => t.TokenId), result.TopTokens.Select(t => t.TokenId));
        Assert.Equal(expected.TopTokens.Select(t => t.Logit), result.TopTokens.Select(t => t.Logit));
    }
}
