using Microsoft.Extensions.Options;
using MInference.Shared.Contracts;
using MInference.Silo.DataPlane;
using MInference.Silo.Devices;
using MInference.Silo.Placement;
using Orleans.Concurrency;

namespace MInference.Silo.Grains;

/// <summary>
/// A thin front for one device worker; pinned to its silo by <see cref="StagePlacementAttribute"/>.
/// Reentrant: chunks wait in the worker's bounded queue (not in the grain's unbounded mailbox), and
/// status and release calls are answered while a chunk runs.
/// </summary>
[StagePlacement, Reentrant]
internal sealed class StageGrain(
    DeviceWorkerPool pool, IActivationChannel channel, SiloDataPlane dataPlane, ILocalSiloDetails silo, IOptions<ClusterExecutionOptions> options)
    : Grain, IStageGrain
{
    private DeviceWorker? _worker;
    private IGrainTimer? _shardSweep;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = this.GetPrimaryKeyString();
        if (!StageKeys.TryParse(key, out var siloName, out var deviceIndex))
        {
            throw new ArgumentException($"stage key '{key}' is not of the form '{{siloName}}/{{deviceIndex}}'");
        }

        if (!string.Equals(siloName, silo.Name, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"stage '{key}' was activated on silo '{silo.Name}', not its own");
        }

        _worker = pool.Get(deviceIndex);
        DelayDeactivation(TimeSpan.FromDays(3650));
        var period = options.Value.ShardSweepPeriod;
        _shardSweep = this.RegisterGrainTimer(SweepAsync, new GrainTimerCreationOptions(period, period) { Interleave = true });
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _shardSweep?.Dispose();
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> UnloadUnusedShardsAsync() => SweepAsync(CancellationToken.None);

    /// <summary>
    /// Unloads shards no job uses that are idle past <see cref="ClusterExecutionOptions.ShardIdleTimeout"/>
    /// or whose model the coordinator no longer knows (unregistered, or its directory changed).
    /// </summary>
    private async Task<IReadOnlyList<string>> SweepAsync(CancellationToken cancellationToken)
    {
        var models = await GrainFactory.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey).GetModelsAsync();
        var registered = models.Select(m => Path.GetFullPath(m.Directory)).ToHashSet(StringComparer.Ordinal);
        var idle = options.Value.ShardIdleTimeout;
        return await _worker!.UnloadUnusedShardsAsync(idle == TimeSpan.Zero ? null : idle, registered, cancellationToken);
    }

    public Task<StageChunkResult> RunChunkAsync(StageChunkRequest request) => _worker!.RunChunkAsync(request, CancellationToken.None);

    public Task<IReadOnlyList<string>> ExportJobAsync(string jobId, string directory) => _worker!.ExportJobAsync(jobId, directory, CancellationToken.None);

    public Task ReleaseJobAsync(string jobId)
    {
        _worker!.ReleaseJob(jobId);
        return Task.CompletedTask;
    }

    public Task<StageStatus> GetStatusAsync()
    {
        var (shards, jobs, kv) = _worker!.Snapshot();
        return Task.FromResult(new StageStatus(
            this.GetPrimaryKeyString(), shards, jobs, kv, channel.PendingCount + dataPlane.ParkedCount, _worker.QueuedChunks, dataPlane.FetchedTransfers, dataPlane.FetchedBytes));
    }
}
