using System.Collections.Concurrent;
using MInference.Silo.Grains;

namespace MInference.Cluster.Tests;

/// <summary>
/// Stalls jobs before their chunk 1 until the attempt is cancelled (by the watchdog, a cancel or a silo's
/// stop): a job whose id starts with <see cref="OncePrefix"/> only the first time it gets there, one with
/// <see cref="AlwaysPrefix"/> every time. Other jobs pass.
/// </summary>
public sealed class StallingChunkGate : IJobChunkGate
{
    public const string OncePrefix = "stall-once-";

    public const string AlwaysPrefix = "stall-always-";

    private readonly ConcurrentDictionary<string, int> _arrivals = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _reached = new(StringComparer.Ordinal);

    public static StallingChunkGate Instance { get; } = new();

    /// <summary>Completes when the job first stalls here.</summary>
    public Task Reached(string jobId) => _reached.GetOrAdd(jobId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>How many times the job got to chunk 1.</summary>
    public int Arrivals(string jobId) => _arrivals.GetValueOrDefault(jobId);

    public async ValueTask BeforeChunkAsync(string jobId, int chunkIndex, CancellationToken cancellationToken)
    {
        if (chunkIndex != 1)
        {
            return;
        }

        var arrival = _arrivals.AddOrUpdate(jobId, 1, (_, n) => n + 1);
        var stall = jobId.StartsWith(AlwaysPrefix, StringComparison.Ordinal) || (jobId.StartsWith(OncePrefix, StringComparison.Ordinal) && arrival == 1);
        if (!stall)
        {
            return;
        }

        _reached.GetOrAdd(jobId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }
}
