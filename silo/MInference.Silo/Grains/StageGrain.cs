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
internal sealed class StageGrain(DeviceWorkerPool pool, IActivationChannel channel, SiloDataPlane dataPlane, ILocalSiloDetails silo) : Grain, IStageGrain
{
    private DeviceWorker? _worker;

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
        return Task.CompletedTask;
    }

    public Task<StageChunkResult> RunChunkAsync(StageChunkRequest request) => _worker!.RunChunkAsync(request, CancellationToken.None);

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
