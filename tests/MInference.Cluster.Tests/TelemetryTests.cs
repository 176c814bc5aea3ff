using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using MInference.Shared.Contracts;
using MInference.Silo.Diagnostics;

namespace MInference.Cluster.Tests;

public sealed class TelemetryTests(ClusterFixture fixture)
{
    /// <summary>
    /// A 2-stage job records on the "MInference" meter at least its tokens once per stage, one chunk latency
    /// per stage and chunk, and its transfer bytes; the "MInference" activity source starts a span for the
    /// job tagged with its id. (Other tests may add to the totals, so they are lower bounds.)
    /// </summary>
    [Fact]
    public async Task Job_records_metrics_and_a_job_span()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "telemetry-" + Guid.NewGuid().ToString("N");
        var tokens = TestDocuments.Random(seed: 301, length: 48);
        var totals = new ConcurrentDictionary<string, double>(StringComparer.Ordinal);
        var spans = new ConcurrentBag<Activity>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MInferenceMetrics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((instrument, value, _, _) => totals.AddOrUpdate(instrument.Name, value, (_, old) => old + value));
        meters.SetMeasurementEventCallback<double>((instrument, _, _, _) => totals.AddOrUpdate(instrument.Name + ".count", 1, (_, old) => old + 1));
        meters.Start();
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MInferenceActivitySource.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(activities);

        await fixture.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ModelId, tokens, ChunkTokens: 16, StageCount: 2), ct);
        await fixture.Client.GetResultAsync(jobId, ct);

        Assert.True(totals.GetValueOrDefault("minference.prefill.tokens") >= 2 * tokens.Length, $"tokens: {totals.GetValueOrDefault("minference.prefill.tokens")}");
        Assert.True(totals.GetValueOrDefault("minference.stage.chunk.duration.count") >= 6, $"chunk latencies: {totals.GetValueOrDefault("minference.stage.chunk.duration.count")}");
        Assert.True(totals.GetValueOrDefault("minference.dataplane.bytes") > 0, "no transfer bytes recorded");
        Assert.Contains(spans, s => s.OperationName == "job" && (string?)s.GetTagItem("minference.job") == jobId);
    }
}
