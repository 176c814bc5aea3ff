using Orleans.Concurrency;

namespace MInference.Shared.Contracts;

/// <summary>
/// One document's pre-fill, keyed by the client-chosen job id. Submission is idempotent; the work runs in
/// the background, chunk by chunk through the plan's stages, and is watched by long polling
/// <see cref="WaitForChangeAsync"/>.
/// </summary>
[Alias("minference.job")]
public interface IJobGrain : IGrainWithStringKey
{
    /// <summary>
    /// Queues the document. Submitting the same document again under the same id returns the current
    /// progress; a different document under a used id throws <see cref="JobConflictException"/>.
    /// </summary>
    [Alias("submit")]
    Task<JobProgress> SubmitAsync(JobSubmission submission);

    [Alias("get-progress")]
    Task<JobProgress> GetProgressAsync();

    /// <summary>
    /// Returns as soon as the job's version is past <paramref name="knownVersion"/> or it is final, or
    /// after <paramref name="maxWait"/> with the current progress (keeps every call short).
    /// </summary>
    [Alias("wait-for-change"), AlwaysInterleave]
    Task<JobProgress> WaitForChangeAsync(long knownVersion, TimeSpan maxWait);

    /// <summary>The result of a completed job, or null while it is not completed.</summary>
    [Alias("get-result")]
    Task<JobResult?> GetResultAsync();

    /// <summary>Cancels a queued or running job (its stages free their KV memory); no effect once final.</summary>
    [Alias("cancel"), AlwaysInterleave]
    Task<JobProgress> CancelAsync();

    /// <summary>
    /// Frees the KV caches a completed job kept on its stages (<see cref="KvRetention.Keep"/>); idempotent,
    /// and no effect on a job that holds none (not final yet, or submitted with another retention).
    /// Cancelling a completed job that keeps its caches frees them too.
    /// </summary>
    [Alias("release-kv")]
    Task<JobProgress> ReleaseKvAsync();
}
