using System.Runtime.CompilerServices;
using Microsoft.Extensions.Hosting;
using MInference.Shared.Contracts;

namespace MInference.Client;

/// <summary>
/// Submits documents to a MInference cluster and follows them. Built by <see cref="MInferenceClientBuilder"/>
/// (owns its Orleans client) or over an existing grain factory (a co-hosted silo, a test cluster).
/// </summary>
public sealed class MInferenceClient : IAsyncDisposable
{
    /// <summary>How long one watch call may wait at the job grain (well under Orleans' response timeout).</summary>
    public static readonly TimeSpan WatchPollWait = TimeSpan.FromSeconds(10);

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
        => Coordinator.RegisterModelAsync(modelId, modelDirectory).WaitAsync(cancellationToken);

    public Task<IReadOnlyList<RegisteredModel>> GetModelsAsync(CancellationToken cancellationToken = default)
        => Coordinator.GetModelsAsync().WaitAsync(cancellationToken);

    public Task<IReadOnlyList<DeviceDescriptor>> GetDevicesAsync(CancellationToken cancellationToken = default)
        => Coordinator.GetDevicesAsync().WaitAsync(cancellationToken);

    /// <summary>
    /// Submits a document under a client-chosen id. Idempotent: the same document under the same id
    /// returns the existing job; a different one throws <see cref="JobConflictException"/>.
    /// </summary>
    public Task<JobProgress> SubmitAsync(string jobId, JobSubmission submission, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(jobId);
        ArgumentNullException.ThrowIfNull(submission);
        return Job(jobId).SubmitAsync(submission).WaitAsync(cancellationToken);
    }

    public Task<JobProgress> GetProgressAsync(string jobId, CancellationToken cancellationToken = default)
        => Job(jobId).GetProgressAsync().WaitAsync(cancellationToken);

    public Task<JobProgress> CancelAsync(string jobId, CancellationToken cancellationToken = default)
        => Job(jobId).CancelAsync().WaitAsync(cancellationToken);

    /// <summary>Yields the job's progress now and at every change, ending with its final state.</summary>
    public async IAsyncEnumerable<JobProgress> WatchAsync(string jobId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var job = Job(jobId);
        var progress = await job.GetProgressAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        yield return progress;
        while (!progress.IsFinal && progress.State != JobState.Unknown)
        {
            var next = await job.WaitForChangeAsync(progress.Version, WatchPollWait).WaitAsync(cancellationToken).ConfigureAwait(false);
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

        return await Job(jobId).GetResultAsync().WaitAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new JobFailedException(jobId, last.State, $"job '{jobId}' completed without a result");
    }

    public async ValueTask DisposeAsync()
    {
        if (_ownedHost is not null)
        {
            await _ownedHost.StopAsync().ConfigureAwait(false);
            _ownedHost.Dispose();
        }
    }

    private IJobGrain Job(string jobId) => _grains.GetGrain<IJobGrain>(jobId);
}
