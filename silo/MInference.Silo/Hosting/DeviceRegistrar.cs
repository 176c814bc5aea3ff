using Microsoft.Extensions.Options;
using MInference.Shared.Contracts;

namespace MInference.Silo.Hosting;

/// <summary>Reports this silo's devices (and configured models) to the coordinator once the silo is active; withdraws them on stop.</summary>
internal sealed class DeviceRegistrar(
    IGrainFactory grains,
    ILocalSiloDetails silo,
    IDeviceDiscovery discovery,
    IOptions<MInferenceSiloOptions> options) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe(nameof(DeviceRegistrar), ServiceLifecycleStage.Active, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var coordinator = grains.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);
        await coordinator.RegisterDevicesAsync(silo.Name, discovery.Discover(silo.Name)).WaitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (id, directory) in options.Value.Models)
        {
            await coordinator.RegisterModelAsync(id, directory).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await grains.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey).UnregisterSiloAsync(silo.Name).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The coordinator may be gone with the cluster; stopping must go on.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
