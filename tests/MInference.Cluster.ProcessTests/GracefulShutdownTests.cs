using MInference.Shared.Contracts;

namespace MInference.Cluster.ProcessTests;

public sealed class GracefulShutdownTests
{
    /// <summary>Chunks enough that the stop lands while most of the job is still to run.</summary>
    private const int DocumentTokens = 1024;

    private const int ChunkTokens = 64;

    /// <summary>
    /// SIGTERM to the silo process whose device runs a job's stage, mid-job: the silo withdraws its
    /// devices, drains (waits for the job on its device), and only then exits; the job completes with
    /// every chunk run on that silo's stage and no retry, and the cluster (the other silo) still
    /// answers for it afterwards.
    /// </summary>
    [Fact]
    public async Task Stopping_a_silo_gracefully_lets_its_running_job_finish_first()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await ProcessCluster.CreateAsync(siloCount: 2, ct);
        await cluster.StartSilosAsync(["--MInference:DrainTimeout=00:02:00"], ct);
        var client = await cluster.ConnectClientAsync(ct);
        var jobId = "drained-" + Guid.NewGuid().ToString("N");
        var submission = new JobSubmission(ProcessCluster.ModelId, TestDocuments.Random(seed: 619, length: DocumentTokens), ChunkTokens, StageCount: 1);

        await client.SubmitAsync(jobId, submission, ct);
        string? stageKey = null;
        await foreach (var progress in client.WatchAsync(jobId, ct))
        {
            Assert.False(progress.IsFinal, $"the job ended {progress.State} before its silo could be stopped: {progress.Error}");
            if (progress is { State: JobState.Running, ChunksDone: > 0, StageKeys: [var stage, ..] })
            {
                stageKey = stage;
                break;
            }
        }

        Assert.True(StageKeys.TryParse(stageKey!, out var siloName, out _));
        var stopped = await cluster.TerminateSiloAsync(siloName, ct);
        var survivor = await cluster.ConnectClientAsync(ct);
        var final = await survivor.GetProgressAsync(jobId, ct);
        var result = await survivor.GetResultAsync(jobId, ct);

        Assert.Equal(0, stopped.ExitCode);
        Assert.Contains("withdrew its devices", stopped.Output, StringComparison.Ordinal);
        Assert.Contains("Draining: waiting up to", stopped.Output, StringComparison.Ordinal);
        Assert.Contains(jobId, stopped.Output, StringComparison.Ordinal);
        Assert.Contains("Drained: every job", stopped.Output, StringComparison.Ordinal);
        Assert.Equal(JobState.Completed, final.State);
        Assert.Equal(final.ChunkCount, final.ChunksDone);
        Assert.Equal([stageKey], result.Stages.Select(s => s.StageKey));
        Assert.NotEmpty(result.TopTokens);
    }
}
