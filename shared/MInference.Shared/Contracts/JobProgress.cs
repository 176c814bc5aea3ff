namespace MInference.Shared.Contracts;

/// <summary>
/// Where a job is. <see cref="Version"/> grows with every change, for watchers. <see cref="Attempt"/> counts
/// runs of the document (1 on the first; a lost stage or failed transfer re-plans and restarts it), and
/// <see cref="RetryReason"/> says why the last restart happened. <see cref="KvRetained"/>: the completed job's
/// stages still hold its KV caches (<see cref="KvRetention.Keep"/>) until <see cref="IJobGrain.ReleaseKvAsync"/>.
/// </summary>
[GenerateSerializer, Immutable, Alias("minference.job-progress")]
public sealed record JobProgress(
    [property: Id(0)] string JobId,
    [property: Id(1)] JobState State,
    [property: Id(2)] long Version,
    [property: Id(3)] long ProcessedTokens,
    [property: Id(4)] long TotalTokens,
    [property: Id(5)] int ChunksDone,
    [property: Id(6)] int ChunkCount,
    [property: Id(7)] string? Error = null,
    [property: Id(8)] IReadOnlyList<string>? StageKeys = null,
    [property: Id(9)] int Attempt = 0,
    [property: Id(10)] string? RetryReason = null,
    [property: Id(11)] bool KvRetained = false)
{
    public bool IsFinal => State is JobState.Completed or JobState.Failed or JobState.Cancelled;
}

[GenerateSerializer, Alias("minference.job-state")]
public enum JobState
{
    /// <summary>No document was submitted under this id.</summary>
    Unknown = 0,
    Queued = 1,
    Running = 2,
    Completed = 3,
    Failed = 4,
    Cancelled = 5,
}
