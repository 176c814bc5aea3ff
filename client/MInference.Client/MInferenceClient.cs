using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using MInference.Shared.Contracts;

namespace MInference.Client;

/// <summary>
/// Submits documents to a MInference cluster and follows them. Built by <see cref="MInferenceClientBuilder"/>
/// (owns its Orleans client) or over an existing grain factory (a co-hosted silo, a test cluster).
/// Bad input surfaces as <see cref="MInferenceInputException"/>, an unreachable cluster as
/// <see cref="ClusterUnavailableException"/>, a job that did not complete as <see cref="JobFailedException"/>.
/// </summary>
public sealed class MInferenceClient : IAsyncDisposable
{
    /// <summary>How long one watch call may wait at the job grain (well under Orleans' response timeout).</summary>
    public static readonly TimeSpan WatchPollWait = TimeSpan.FromSeconds(10);

    /// <summary>Default number of batch documents in flight at once.</summary>
    public const int DefaultBatchConcurrency = 4;

    /// <summary>
    /// How long a watch keeps repeating a call the cluster did not answer. A job grain on a silo that died
    /// without leaving is unreachable until the failure detector declares that silo dead (Orleans'
    /// defaults: 3 missed probes of 5 s, then the directory forgets it), so this must outlast that.
    /// </summary>
    public static readonly TimeSpan WatchUnavailableLimit = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan _watchRetryBackoff = TimeSpan.FromMilliseconds(250);

    private static readonly TimeSpan _watchRetryBackoffMax = TimeSpan.FromSeconds(2);

    private readonly IGrainFactory _grains;
    private readonly IHost? _ownedHost;

    public MInferenceClient(IGrainFactory grains)
        : this(grains, null)
    {
    }

    internal MInferenceClient(IGrainFactory grains, IHost? ownedHost)
    {
        ArgumentNullException.ThrowIfNull(grains);
        _grains = grains;
        _ownedHost = ownedHost;
    }

    private ICoordinatorGrain Coordinator => _grains.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);

    /// <summary>Registers a model directory (readable by the silos) under an id.</summary>
    public Task<RegisteredModel> RegisterModelAsync(string modelId, string modelDirectory, CancellationToken cancellationToken = default)
        => CallAsync(() => Coordinator.RegisterModelAsync(modelId, modelDirectory), cancellationToken);

    /// <summary>Forgets a model id and its pattern config; false when it was not registered.</summary>
    public Task<bool> UnregisterModelAsync(string modelId, CancellationToken cancellationToken = default)
        => CallAsync(() => Coordinator.UnregisterModelAsync(modelId), cancellationToken);

    public Task<IReadOnlyList<RegisteredModel>> GetModelsAsync(CancellationToken cancellationToken = default)
        => CallAsync(() => Coordinator.GetModelsAsync(), cancellationToken);

    public Task<IReadOnlyList<DeviceDescriptor>> GetDevicesAsync(CancellationToken cancellationToken = default)
        => CallAsync(() => Coordinator.GetDevicesAsync(), cancellationToken);

    /// <summary>Stores a model's default pattern config (JSON, format <c>minference-cluster.patterns</c>); jobs without their own use it.</summary>
    public Task PutPatternConfigAsync(string modelId, string patternConfigJson, CancellationToken cancellationToken = default)
        => CallAsync(async () =>
        {
            await Coordinator.PutPatternConfigAsync(modelId, patternConfigJson).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <summary>A model's stored default pattern config (JSON, format <c>minference-cluster.patterns</c>), or null when it has none (dense).</summary>
    public Task<string?> GetPatternConfigAsync(string modelId, CancellationToken cancellationToken = default)
        => CallAsync(() => Coordinator.GetPatternConfigAsync(modelId), cancellationToken);

    /// <summary>
    /// Submits a document under a client-chosen id. Idempotent: the same document under the same id
    /// returns the existing job; a different one throws <see cref="JobConflictException"/>.
    /// </summary>
    public Task<JobProgress> SubmitAsync(string jobId, JobSubmission submission, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(jobId);
        ArgumentNullException.ThrowIfNull(submission);
        return CallAsync(() => Job(jobId).SubmitAsync(submission), cancellationToken);
    }

    public Task<JobProgress> GetProgressAsync(string jobId, CancellationToken cancellationToken = default)
        => CallAsync(() => Job(jobId).GetProgressAsync(), cancellationToken);

    /// <summary>Cancels a queued or running job; on a completed job that kept its KV caches (<see cref="KvRetention.Keep"/>) it frees them.</summary>
    public Task<JobProgress> CancelAsync(string jobId, CancellationToken cancellationToken = default)
        => CallAsync(() => Job(jobId).CancelAsync(), cancellationToken);

    /// <summary>
    /// Frees the KV caches a completed job kept on its stages (<see cref="KvRetention.Keep"/>); idempotent,
    /// no effect on a job that holds none. The progress it returns has <see cref="JobProgress.KvRetained"/> false.
    /// </summary>
    public Task<JobProgress> ReleaseKvAsync(string jobId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(jobId);
        return CallAsync(() => Job(jobId).ReleaseKvAsync(), cancellationToken);
    }

    /// <summary>
    /// Yields the job's progress now and at every change, ending with its final state. A call the cluster
    /// did not answer (a silo left) is repeated, which also wakes the job on another silo.
    /// </summary>
    public async IAsyncEnumerable<JobProgress> WatchAsync(string jobId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var job = Job(jobId);
        var progress = await WithRetriesAsync(() => job.GetProgressAsync(), cancellationToken).ConfigureAwait(false);
        yield return progress;
        while (!progress.IsFinal && progress.State != JobState.Unknown)
        {
            var known = progress.Version;
            var next = await WithRetriesAsync(() => job.WaitForChangeAsync(known, WatchPollWait), cancellationToken).ConfigureAwait(false);
            if (next.Version != progress.Version || next.IsFinal)
            {
                progress = next;
                yield return progress;
            }
        }
    }

    /// <summary>Waits for the job to finish and returns its result; throws <see cref="JobFailedException"/> when it failed or was cancelled.</summary>
    public async Task<JobResult> GetResultAsync(string jobId, CancellationToken cancellationToken = default)
    {
        JobProgress? last = null;
        await foreach (var progress in WatchAsync(jobId, cancellationToken).ConfigureAwait(false))
        {
            last = progress;
        }

        if (last is null || last.State == JobState.Unknown)
        {
            throw new JobFailedException(jobId, JobState.Unknown, $"no job '{jobId}' was submitted");
        }

        if (last.State != JobState.Completed)
        {
            throw new JobFailedException(jobId, last.State, $"job '{jobId}' ended {last.State}: {last.Error ?? "no error recorded"}");
        }

        return await CallAsync(() => Job(jobId).GetResultAsync(), cancellationToken).ConfigureAwait(false)
            ?? throw new JobFailedException(jobId, last.State, $"job '{jobId}' completed without a result");
    }

    /// <summary>
    /// Runs a batch: submits at most <paramref name="maxConcurrency"/> documents at a time and yields each
    /// document's outcome as it ends (completion order). A document that fails (bad input, failed job,
    /// unreachable cluster) is reported in its result and does not stop the others; cancellation stops all.
    /// </summary>
    public async IAsyncEnumerable<BatchDocumentResult> SubmitBatchAsync(
        IEnumerable<BatchDocument> documents,
        int maxConcurrency = DefaultBatchConcurrency,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrency, 1);
        var results = Channel.CreateUnbounded<BatchDocumentResult>();
        using var room = new SemaphoreSlim(maxConcurrency, maxConcurrency);
        var feeder = FeedBatchAsync(documents, room, results.Writer, cancellationToken);
        await foreach (var result in results.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return result;
        }

        await feeder.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_ownedHost is not null)
        {
            await _ownedHost.StopAsync().ConfigureAwait(false);
            _ownedHost.Dispose();
        }
    }

    private async Task FeedBatchAsync(IEnumerable<BatchDocument> documents, SemaphoreSlim room, ChannelWriter<BatchDocumentResult> results, CancellationToken cancellationToken)
    {
        var running = new List<Task>();
        try
        {
            foreach (var document in documents)
            {
                await room.WaitAsync(cancellationToken).ConfigureAwait(false);
                running.Add(RunBatchDocumentAsync(document, room, results, cancellationToken));
            }

            await Task.WhenAll(running).ConfigureAwait(false);
            results.TryComplete();
        }
        catch (Exception e)
        {
            await Task.WhenAll(running.Select(t => t.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default))).ConfigureAwait(false);
            results.TryComplete(e);
        }
    }

    private async Task RunBatchDocumentAsync(BatchDocument document, SemaphoreSlim room, ChannelWriter<BatchDocumentResult> results, CancellationToken cancellationToken)
    {
        try
        {
            await SubmitAsync(document.JobId, document.Submission, cancellationToken).ConfigureAwait(false);
            var result = await GetResultAsync(document.JobId, cancellationToken).ConfigureAwait(false);
            await results.WriteAsync(new BatchDocumentResult(document.JobId, result, null), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            await results.WriteAsync(new BatchDocumentResult(document.JobId, null, e), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            room.Release();
        }
    }

    /// <summary>One grain call with the SDK's exception policy.</summary>
    private static async Task<T> CallAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException e) when (e is not MInferenceInputException)
        {
            throw new MInferenceInputException(e.Message, e);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw new ClusterUnavailableException($"the MInference cluster did not answer: {e.GetType().Name}: {e.Message}", e);
        }
    }

    private static async Task<T> WithRetriesAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        var unanswered = System.Diagnostics.Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await CallAsync(call, cancellationToken).ConfigureAwait(false);
            }
            catch (ClusterUnavailableException) when (unanswered.Elapsed < WatchUnavailableLimit)
            {
                // Membership needs a moment to declare the job's silo dead and route the job to a live one.
                var backoff = _watchRetryBackoff * attempt;
                await Task.Delay(backoff < _watchRetryBackoffMax ? backoff : _watchRetryBackoffMax, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static bool IsUnavailable(Exception e) => e is SiloUnavailableException
        or OrleansMessageRejectionException
        or Orleans.Runtime.Messaging.ConnectionFailedException
        or TimeoutException
        or GatewayTooBusyException;

    private IJobGrain Job(string jobId) => _grains.GetGrain<IJobGrain>(jobId);
}
