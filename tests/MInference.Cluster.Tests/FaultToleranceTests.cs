using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using MInference.DataPlane;
using MInference.Shared.Contracts;
using MInference.Silo.DataPlane;

namespace MInference.Cluster.Tests;

/// <summary>Faults on a cluster of its own: lost silos, corrupted and dropped transfers, replicas. Run one at a time.</summary>
public sealed class FaultToleranceTests(FaultClusterFixture fixture) : IClassFixture<FaultClusterFixture>
{
    /// <summary>
    /// Stopping a silo that runs a stage of a job in the middle of the job (after chunk 0, before chunk 1)
    /// makes the job re-plan onto the remaining silos and run the document again: it completes, the
    /// progress stream shows attempt 2 with the reason, the new plan leaves the stopped silo out, and the
    /// logits equal the single-process engine's.
    /// </summary>
    [Fact]
    public async Task Stopped_silo_mid_job_replans_and_the_result_equals_the_engine()
    {
        var ct = TestContext.Current.CancellationToken;
        var tokens = TestDocuments.Random(seed: 91, length: 96);
        var jobId = HoldingChunkGate.Prefix + "silo-loss-" + Guid.NewGuid().ToString("N");
        Assert.True(fixture.Cluster.GetActiveSilos().Count() >= 3, "this test needs 3 silos: one to stop and two to re-plan onto");

        await fixture.Client.SubmitAsync(jobId, new JobSubmission(FaultClusterFixture.ModelId, tokens, ChunkTokens: 32, StageCount: 2, IncludeLogits: true), ct);
        await HoldingChunkGate.Instance.Reached(jobId).WaitAsync(ct);
        var running = await fixture.Client.WatchAsync(jobId, ct).FirstAsync(p => p.ChunksDone >= 1, ct);
        var stageSilos = running.StageKeys!.Select(k => k.Split('/')[0]).ToList();
        // The primary silo hosts the coordinator (it registered first); stop a stage's silo that is not it.
        var victim = fixture.Cluster.GetActiveSilos().First(s => s != fixture.Cluster.Primary && stageSilos.Contains(s.Name));
        var seen = new ConcurrentQueue<JobProgress>();
        var watching = Task.Run(
            async () =>
            {
                await foreach (var progress in fixture.Client.WatchAsync(jobId, ct))
                {
                    seen.Enqueue(progress);
                }
            },
            ct);

        await fixture.Cluster.StopSiloAsync(victim, ct);
        HoldingChunkGate.Instance.Release(jobId);
        await watching;
        var result = await fixture.Client.GetResultAsync(jobId, ct);
        var final = await fixture.Client.GetProgressAsync(jobId, ct);
        var expected = ReferenceLogits.Compute(fixture.ModelDirectory, tokens, 32, ct);

        Assert.Equal(JobState.Running, running.State);
        Assert.Equal(1, running.Attempt);
        Assert.Equal(JobState.Completed, final.State);
        Assert.True(final.Attempt >= 2, $"the job ran {final.Attempt} attempts");
        Assert.Contains(seen, p => p.Attempt >= 2 && p.RetryReason is not null);
        Assert.DoesNotContain(result.Stages, s => s.StageKey.StartsWith(victim.Name + "/", StringComparison.Ordinal));
        ReferenceLogits.AssertClose(expected, result.Logits);
    }

    /// <summary>
    /// Every transfer's first send is corrupted on the wire: the receiver's checksum catches it, the fetch is
    /// tried again and succeeds, the job completes in its first attempt with the engine's logits.
    /// </summary>
    [Fact]
    public async Task Corrupted_transfers_are_fetched_again_and_the_result_is_exact()
    {
        var ct = TestContext.Current.CancellationToken;
        var tokens = TestDocuments.Random(seed: 93, length: 64);
        var jobId = "corrupt-" + Guid.NewGuid().ToString("N");
        var corrupted = new ConcurrentDictionary<Guid, bool>();
        var planes = DataPlanes();
        var retriesBefore = planes.Sum(p => p.RetriedFetches);
        try
        {
            foreach (var plane in planes)
            {
                plane.FaultInjector = id => corrupted.TryAdd(id, true) ? TransferFault.CorruptOneBit : TransferFault.None;
            }

            await fixture.Client.SubmitAsync(jobId, new JobSubmission(FaultClusterFixture.ModelId, tokens, ChunkTokens: 16, StageCount: 2, IncludeLogits: true), ct);
            var result = await fixture.Client.GetResultAsync(jobId, ct);
            var final = await fixture.Client.GetProgressAsync(jobId, ct);
            var expected = ReferenceLogits.Compute(fixture.ModelDirectory, tokens, 16, ct);

            Assert.Equal(1, final.Attempt);
            Assert.True(planes.Sum(p => p.RetriedFetches) - retriesBefore >= 4, $"{planes.Sum(p => p.RetriedFetches) - retriesBefore} fetches retried for 4 chunks");
            Assert.True(corrupted.Count >= 4);
            ReferenceLogits.AssertClose(expected, result.Logits);
        }
        finally
        {
            foreach (var plane in planes)
            {
                plane.FaultInjector = null;
            }
        }
    }

    /// <summary>
    /// Transfers that always drop halfway never let a job continue: it re-plans and restarts until its
    /// attempts are spent, then ends failed naming the transfer failure.
    /// </summary>
    [Fact]
    public async Task Transfers_that_always_fail_end_the_job_failed_after_its_attempts()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "always-drop-" + Guid.NewGuid().ToString("N");
        var planes = DataPlanes();
        try
        {
            foreach (var plane in planes)
            {
                plane.FaultInjector = _ => TransferFault.DropHalfway;
            }

            await fixture.Client.SubmitAsync(jobId, new JobSubmission(FaultClusterFixture.ModelId, TestDocuments.Random(seed: 95, length: 40), ChunkTokens: 16, StageCount: 2), ct);
            var error = await Assert.ThrowsAsync<Client.JobFailedException>(() => fixture.Client.GetResultAsync(jobId, ct));
            var final = await fixture.Client.GetProgressAsync(jobId, ct);

            Assert.Equal(JobState.Failed, error.State);
            Assert.Equal(Silo.Grains.ClusterExecutionOptions.DefaultMaxJobAttempts, final.Attempt);
            Assert.Contains(nameof(Silo.DataPlane.TransferFailedException), final.Error, StringComparison.Ordinal);
            Assert.NotNull(final.RetryReason);
        }
        finally
        {
            foreach (var plane in planes)
            {
                plane.FaultInjector = null;
            }
        }
    }

    /// <summary>
    /// With more devices than one pipeline needs (the tiny model fits one device), the coordinator plans one
    /// replica per device, and as many concurrent jobs as replicas each get a different one.
    /// </summary>
    [Fact]
    public async Task Concurrent_jobs_spread_over_the_replicas()
    {
        var ct = TestContext.Current.CancellationToken;
        var coordinator = fixture.Cluster.Client.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);
        var replicas = await coordinator.GetReplicasAsync(new PlanRequest(FaultClusterFixture.ModelId, 64, 16));
        var ids = Enumerable.Range(0, replicas.Count).Select(i => HoldingChunkGate.Prefix + "replica-" + i + "-" + Guid.NewGuid().ToString("N")).ToList();

        foreach (var id in ids)
        {
            await fixture.Client.SubmitAsync(id, new JobSubmission(FaultClusterFixture.ModelId, TestDocuments.Random(seed: 97, length: 40), ChunkTokens: 16), ct);
        }

        await Task.WhenAll(ids.Select(id => HoldingChunkGate.Instance.Reached(id))).WaitAsync(ct);
        var held = await Task.WhenAll(ids.Select(id => fixture.Client.GetProgressAsync(id, ct)));
        foreach (var id in ids)
        {
            HoldingChunkGate.Instance.Release(id);
        }

        var results = await Task.WhenAll(ids.Select(id => fixture.Client.GetResultAsync(id, ct)));

        Assert.True(replicas.Count >= 2, $"{replicas.Count} replicas");
        Assert.All(replicas, r => Assert.Single(r.Stages));
        Assert.Equal(replicas.Count, replicas.Select(r => r.Stages[0].StageKey).Distinct().Count());
        Assert.Equal(ids.Count, held.Select(p => Assert.Single(p.StageKeys!)).Distinct().Count());
        Assert.All(results, r => Assert.Equal(results[0].TopTokens[0].TokenId, r.TopTokens[0].TokenId));
    }

    private List<SiloDataPlane> DataPlanes() => [.. fixture.Cluster.GetActiveSilos()
        .Select(s => fixture.Cluster.GetSiloServiceProvider(s.SiloAddress).GetRequiredService<SiloDataPlane>())];
}
