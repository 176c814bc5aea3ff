using MInference.Client;
using MInference.Shared.Contracts;
using MInference.Silo.Grains;

namespace MInference.Cluster.Tests;

[Collection(ControlPlaneCollection.Name)]
public sealed class JobWatchdogTests(ControlPlaneClusterFixture cluster) : IDisposable
{
    private const int ChunkTokens = 16;

    /// <summary>Only a guard against a hang (a watchdog that never fires would stall the job forever); no assertion depends on it.</summary>
    private static readonly TimeSpan _hangGuard = TimeSpan.FromMinutes(3);

    /// <summary>
    /// A job whose first attempt stalls (held before chunk 1 until cancelled) holds a watchdog reminder
    /// while it runs; the watchdog finds no progress within the timeout, stops the attempt and restarts
    /// it: the job completes on attempt 2, its progress stream shows the retry with the watchdog's reason
    /// naming the setting, and once it ended the reminder is gone.
    /// </summary>
    [Fact]
    public async Task A_stalled_attempt_is_restarted_by_the_watchdog()
    {
        using var guard = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        guard.CancelAfter(_hangGuard);
        var ct = guard.Token;
        var jobId = StallingChunkGate.OncePrefix + Guid.NewGuid().ToString("N");
        var tokens = TestDocuments.Random(seed: 811, length: 3 * ChunkTokens);

        await cluster.Client.SubmitAsync(jobId, new JobSubmission(ControlPlaneClusterFixture.ModelId, tokens, ChunkTokens), ct);
        await StallingChunkGate.Instance.Reached(jobId).WaitAsync(ct);
        var whileRunning = await ReminderNamesAsync(jobId, ct);
        var seen = new List<JobProgress>();
        await foreach (var progress in cluster.Client.WatchAsync(jobId, ct))
        {
            seen.Add(progress);
        }

        var result = await cluster.Client.GetResultAsync(jobId, ct);
        var afterwards = await ReminderNamesAsync(jobId, ct);

        Assert.Equal([JobGrain.WatchdogReminderName], whileRunning);
        var final = seen[^1];
        Assert.Equal(JobState.Completed, final.State);
        Assert.Equal(2, final.Attempt);
        Assert.Contains("attempt 1 of 2 made no progress", final.RetryReason, StringComparison.Ordinal);
        Assert.Contains("JobProgressTimeout", final.RetryReason, StringComparison.Ordinal);
        Assert.Equal(2, StallingChunkGate.Instance.Arrivals(jobId));
        Assert.NotEmpty(result.TopTokens);
        Assert.Empty(afterwards);
    }

    /// <summary>
    /// A job that stalls on every attempt fails after the retry limit with a reason that says it stalled
    /// and that no attempts are left; its reminder is gone afterwards.
    /// </summary>
    [Fact]
    public async Task A_job_that_keeps_stalling_fails_after_the_retry_limit()
    {
        using var guard = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        guard.CancelAfter(_hangGuard);
        var ct = guard.Token;
        var jobId = StallingChunkGate.AlwaysPrefix + Guid.NewGuid().ToString("N");
        var tokens = TestDocuments.Random(seed: 812, length: 2 * ChunkTokens);

        await cluster.Client.SubmitAsync(jobId, new JobSubmission(ControlPlaneClusterFixture.ModelId, tokens, ChunkTokens), ct);
        var failure = await Assert.ThrowsAsync<JobFailedException>(() => cluster.Client.GetResultAsync(jobId, ct));
        var final = await cluster.Client.GetProgressAsync(jobId, ct);
        var afterwards = await ReminderNamesAsync(jobId, ct);

        Assert.Equal(JobState.Failed, final.State);
        Assert.Equal(ControlPlaneClusterFixture.MaxJobAttempts, final.Attempt);
        Assert.Contains("stalled", final.Error, StringComparison.Ordinal);
        Assert.Contains("no attempts left", final.Error, StringComparison.Ordinal);
        Assert.Contains("stalled", failure.Message, StringComparison.Ordinal);
        Assert.Equal(ControlPlaneClusterFixture.MaxJobAttempts, StallingChunkGate.Instance.Arrivals(jobId));
        Assert.Empty(afterwards);
    }

    /// <summary>Watchdog settings out of range are named with their limits; zero turns the watchdog off and is valid.</summary>
    [Fact]
    public void Bad_watchdog_settings_are_named()
    {
        var validator = new ClusterExecutionOptionsValidator();

        var bad = validator.Validate(null, new ClusterExecutionOptions { JobProgressTimeout = TimeSpan.FromMilliseconds(10), WatchdogPeriod = TimeSpan.FromDays(2) });
        var off = validator.Validate(null, new ClusterExecutionOptions { JobProgressTimeout = TimeSpan.Zero });

        Assert.True(off.Succeeded);
        Assert.True(validator.Validate(null, new ClusterExecutionOptions()).Succeeded);
        var failures = bad.Failures!.ToList();
        Assert.Equal(2, failures.Count);
        Assert.Contains(failures, f => f.Contains("MInference:Execution:JobProgressTimeout is 00:00:00.0100000", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MInference:Execution:WatchdogPeriod is 2.00:00:00", StringComparison.Ordinal));
    }

    /// <summary>Shows the silo's log with a failure.</summary>
    public void Dispose()
    {
        if (TestContext.Current.TestState?.Result == TestResult.Failed)
        {
            ControlPlaneClusterFixture.Logs.WriteToTestOutput();
        }
    }

    private async Task<List<string>> ReminderNamesAsync(string jobId, CancellationToken cancellationToken)
    {
        var table = cluster.SiloService<IReminderTable>();
        var rows = await table.ReadRows(cluster.Cluster.Client.GetGrain<IJobGrain>(jobId).GetGrainId(), cancellationToken);
        return [.. rows.Reminders.Select(r => r.ReminderName)];
    }
}
