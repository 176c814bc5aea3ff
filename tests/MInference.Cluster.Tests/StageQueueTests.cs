using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MInference.DataPlane;
using MInference.Kernels.Cpu;
using MInference.Shared.Contracts;
using MInference.Silo.DataPlane;
using MInference.Silo.Devices;
using MInference.Silo.Diagnostics;
using MInference.Silo.Grains;

namespace MInference.Cluster.Tests;

public sealed class StageQueueTests(ClusterFixture fixture)
{
    /// <summary>
    /// A device worker that admits 1 chunk at a time, given 3 jobs' chunks at once: every caller waits its
    /// turn and completes (none fails), the stage's queue-depth count never passes 1, its KV-memory gauge
    /// shows the open caches, and the jobs' caches are freed on release.
    /// </summary>
    [Fact]
    public async Task Callers_beyond_the_bound_wait_and_all_complete()
    {
        var ct = TestContext.Current.CancellationToken;
        var stageKey = "queue-test-" + Guid.NewGuid().ToString("N") + "/0";
        var depth = 0;
        var maxDepth = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == MInferenceMetrics.MeterName && instrument.Name is "minference.stage.queue.depth" or "minference.stage.kv.bytes")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "stage" && (string?)tag.Value == stageKey)
                {
                    var now = Interlocked.Add(ref depth, value);
                    InterlockedMax(ref maxDepth, now);
                }
            }
        });
        long kvBytes = -1;
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "stage" && (string?)tag.Value == stageKey)
                {
                    kvBytes = value;
                }
            }
        });
        listener.Start();
        await using var dataPlane = new SiloDataPlane(Options.Create(new DataPlaneOptions()), Options.Create(new ClusterExecutionOptions()), "queue-test", NullLoggerFactory.Instance);
        using var channel = new InProcessActivationChannel("queue-test");
        using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 1 });
        using var worker = new DeviceWorker(0, backend, channel, dataPlane, maxQueuedChunks: 1, stageKey, NullLogger.Instance);
        var jobs = Enumerable.Range(0, 3).Select(i => "queue-job-" + i).ToList();

        var results = await Task.WhenAll(jobs.Select((job, i) => worker.RunChunkAsync(
            new StageChunkRequest(job, 0, fixture.ModelDirectory, 0, 2, 32, TestDocuments.Random(seed: 500 + i, length: 32), null), ct)));
        var open = worker.Snapshot();
        listener.RecordObservableInstruments();
        foreach (var job in jobs)
        {
            worker.ReleaseJob(job);
        }

        Assert.All(results, r => Assert.NotNull(r.Logits));
        Assert.Equal(1, maxDepth);
        Assert.Equal(0, depth);
        Assert.Equal(jobs, open.Jobs);
        Assert.Equal(open.KvBytes, kvBytes);
        Assert.True(kvBytes > 0, $"KV gauge {kvBytes}");
        Assert.Empty(worker.Snapshot().Jobs);
        Assert.Equal(0, worker.QueuedChunks);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
