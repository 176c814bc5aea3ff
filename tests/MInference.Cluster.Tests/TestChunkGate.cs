using System.Collections.Concurrent;
using MInference.Silo.Grains;

namespace MInference.Cluster.Tests;

/// <summary>
/// Holds jobs whose id starts with <see cref="Prefix"/> before their chunk 1 (after chunk 0 has filled
/// KV caches), so a test can look at a running job without timing.
/// </summary>
public sealed class TestChunkGate : IJobChunkGate
{
    public const string Prefix = "gated-";

    private readonly ConcurrentDictionary<string, TaskCompletionSource> _reached = new(StringComparer.Ordinal);

    public static TestChunkGate Instance { get; } = new();

    /// <summary>Completes when the job reaches the gate.</summary>
    public Task Reached(string jobId) => _reached.GetOrAdd(jobId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public async ValueTask BeforeChunkAsync(string jobId, int chunkIndex, CancellationToken cancellationToken)
    {
        if (chunkIndex != 1 || !jobId.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return;
        }

        _reached.GetOrAdd(jobId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        // Held until the job is cancelled.
        await Task.Delay(Timeout.Infinite, cancellationToken);
    }
}
