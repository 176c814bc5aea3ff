using System.Diagnostics.Metrics;
using MInference.Shared.Contracts;

namespace MInference.Silo.Diagnostics;

/// <summary>
/// The product's one <see cref="Meter"/> ("MInference"): pre-fill throughput, chunk latency per stage,
/// data-plane transfer volume and rate, stage queue depth, KV memory in use per stage and jobs by state. Exported by whatever
/// OpenTelemetry/dotnet-counters listener the host adds; nothing is recorded when none listens.
/// </summary>
public static class MInferenceMetrics
{
    public const string MeterName = "MInference";

    private static readonly Meter _meter = new(MeterName);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Func<long>> _kvBytes = new(StringComparer.Ordinal);
    private static long _queued;
    private static long _running;

    /// <summary>Tokens pre-filled, per stage (tag <c>stage</c>): the rate is tokens/s.</summary>
    public static readonly Counter<long> PrefilledTokens = _meter.CreateCounter<long>("minference.prefill.tokens", "{token}", "Tokens run through a stage's layers");

    /// <summary>Wall time of one chunk on one stage, queue wait excluded (tag <c>stage</c>).</summary>
    public static readonly Histogram<double> ChunkLatency = _meter.CreateHistogram<double>("minference.stage.chunk.duration", "ms", "Compute time of one chunk on one stage");

    /// <summary>Bytes pulled over the TCP data plane (the rate is MB/s).</summary>
    public static readonly Counter<long> TransferBytes = _meter.CreateCounter<long>("minference.dataplane.bytes", "By", "Activation bytes fetched from other silos");

    /// <summary>Throughput of each fetch in MB/s.</summary>
    public static readonly Histogram<double> TransferRate = _meter.CreateHistogram<double>("minference.dataplane.transfer.rate", "MBy/s", "Throughput of one data-plane fetch");

    /// <summary>Fetches that failed and were tried again.</summary>
    public static readonly Counter<long> TransferRetries = _meter.CreateCounter<long>("minference.dataplane.retries", "{retry}", "Data-plane fetches retried after a retryable failure");

    /// <summary>Chunks admitted to a stage and not finished (tag <c>stage</c>), counted up and down.</summary>
    public static readonly UpDownCounter<int> QueueDepth = _meter.CreateUpDownCounter<int>("minference.stage.queue.depth", "{chunk}", "Chunks queued or running on a stage");

    /// <summary>Jobs that ended, by final state (tag <c>state</c>).</summary>
    public static readonly Counter<long> JobsFinished = _meter.CreateCounter<long>("minference.jobs.finished", "{job}", "Jobs that reached a final state");

    /// <summary>Document restarts after a lost stage or failed transfer.</summary>
    public static readonly Counter<long> JobRetries = _meter.CreateCounter<long>("minference.jobs.retries", "{retry}", "Jobs re-planned and restarted");

    static MInferenceMetrics()
    {
        _meter.CreateObservableGauge(
            "minference.jobs.active",
            () => new[]
            {
                new Measurement<long>(Volatile.Read(ref _queued), new KeyValuePair<string, object?>("state", nameof(JobState.Queued))),
                new Measurement<long>(Volatile.Read(ref _running), new KeyValuePair<string, object?>("state", nameof(JobState.Running))),
            },
            "{job}",
            "Jobs queued or running in this silo");
        _meter.CreateObservableGauge(
            "minference.stage.kv.bytes",
            () => _kvBytes.Select(s => new Measurement<long>(s.Value(), new KeyValuePair<string, object?>("stage", s.Key))),
            "By",
            "KV-cache memory the stage's open jobs hold");
    }

    /// <summary>Reports a stage's KV-cache bytes in use (the <c>minference.stage.kv.bytes</c> gauge) until disposed.</summary>
    public static IDisposable TrackKvBytes(string stageKey, Func<long> bytes)
    {
        _kvBytes[stageKey] = bytes;
        return new KvTracking(stageKey, bytes);
    }

    /// <summary>Moves one job of this silo from one state to another in the active-jobs gauge.</summary>
    public static void JobMoved(JobState from, JobState to)
    {
        Adjust(from, -1);
        Adjust(to, +1);
    }

    private static void Adjust(JobState state, long delta)
    {
        if (state == JobState.Queued)
        {
            Interlocked.Add(ref _queued, delta);
        }
        else if (state == JobState.Running)
        {
            Interlocked.Add(ref _running, delta);
        }
    }

    private sealed class KvTracking(string stageKey, Func<long> bytes) : IDisposable
    {
        public void Dispose() => ((ICollection<KeyValuePair<string, Func<long>>>)_kvBytes).Remove(new(stageKey, bytes));
    }
}
