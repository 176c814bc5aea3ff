using System.Collections.Concurrent;
using MInference.Silo.Grains;

namespace MInference.Cluster.Tests;

/// <summary>
/// Holds a job whose id starts with <see cref="Prefix"/> before its chunk 1 the first time it gets there,
/// until the test calls <see cref="Release"/>; later runs of the document (after a re-plan) pass.
/// </summary>
public sealed class HoldingChunkGate : IJobChunkGate
{
    public const string Prefix = "hold-";

    private readonly ConcurrentDictionary<string, TaskCompletionSource> _reached = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _released = new(StringComparer.Ordinal);

    public static HoldingChunkGate Instance { get; } = new();

    /// <summary>Completes when the job first reaches the gate.</summary>
    public Task Reached(string jobId) => Signal(_reached, jobId).Task;

    public void Release(string jobId) => Signal(_released, jobId).TrySetResult();

    public async ValueTask BeforeChunkAsync(string jobId, int chunkIndex, CancellationToken cancellationToken)
    {
        if (chunkIndex != 1 || !jobId.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return;
        }

        Signal(_reached, jobId).TrySetResult();
        await Signal(_released, jobId).Task.WaitAsync(cancellationToken);
    }

    private static TaskCompletionSource Signal(ConcurrentDictionary<string, TaskCompletionSource> signals, string jobId)
        => signals.GetOrAdd(jobId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
}
