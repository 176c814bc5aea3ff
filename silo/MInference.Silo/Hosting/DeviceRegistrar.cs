using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MInference.Shared.Contracts;

namespace MInference.Silo.Hosting;

/// <summary>
/// Reports this silo's devices (and configured models) to the coordinator once the silo is active, and
/// again every <see cref="ReportInterval"/>: the coordinator keeps them in memory, and while silos join
/// one after another a second coordinator activation can replace the first and start empty, so a
/// one-time report can be lost for good. Reports are idempotent. Withdraws them first thing on stop, so
/// no new plan uses them while <see cref="SiloDrainer"/> waits.
/// </summary>
internal sealed partial class DeviceRegistrar(
    IGrainFactory grains,
    ILocalSiloDetails silo,
    IDeviceDiscovery discovery,
    IOptions<MInferenceSiloOptions> options,
    ILogger<DeviceRegistrar> logger) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    /// <summary>Just after Active: starts once grains can be called, stops before the drain.</summary>
    public const int LifecycleStage = ServiceLifecycleStage.Active + 1;

    /// <summary>Logged when the silo can take work; scripts and the process tests wait for it.</summary>
    public const string ReadyMarker = "is ready with";

    /// <summary>How often the devices are reported again after the first report.</summary>
    public static readonly TimeSpan ReportInterval = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _stopping = new();
    private Task _reporting = Task.CompletedTask;

    public void Dispose() => _stopping.Dispose();

    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe(nameof(DeviceRegistrar), LifecycleStage, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var devices = discovery.Discover(silo.Name);
        await ReportAsync(devices, cancellationToken).ConfigureAwait(false);
        LogReady(logger, silo.Name, devices.Count, options.Value.Models.Count, silo.GatewayAddress);
        _reporting = ReportPeriodicallyAsync(devices, _stopping.Token);
    }

    private async Task ReportAsync(IReadOnlyList<DeviceDescriptor> devices, CancellationToken cancellationToken)
    {
        var coordinator = grains.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);
        await coordinator.RegisterDevicesAsync(silo.Name, devices).WaitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (id, directory) in options.Value.Models)
        {
            await coordinator.RegisterModelAsync(id, directory).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReportPeriodicallyAsync(IReadOnlyList<DeviceDescriptor> devices, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(ReportInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                try
                {
                    await ReportAsync(devices, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stopping.IsCancellationRequested)
                {
                    return;
                }
#pragma warning disable CA1031 // A missed report is retried on the next tick; the silo keeps running.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    LogReportFailed(logger, silo.Name, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        // Stop reporting first: a report after the withdrawal would put the devices back.
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _reporting.ConfigureAwait(false);
        try
        {
            await grains.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey).UnregisterSiloAsync(silo.Name).WaitAsync(cancellationToken).ConfigureAwait(false);
            LogWithdrawn(logger, silo.Name);
        }
#pragma warning disable CA1031 // The coordinator may be gone with the cluster; stopping must go on.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogWithdrawFailed(logger, silo.Name, e.Message);
        }
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "MInference silo {SiloName} " + ReadyMarker + " {Devices} device(s) and {Models} configured model(s); gateway {Gateway}")]
    private static partial void LogReady(ILogger logger, string siloName, int devices, int models, SiloAddress? gateway);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "MInference silo {SiloName} withdrew its devices: no new job is planned onto them")]
    private static partial void LogWithdrawn(ILogger logger, string siloName);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "MInference silo {SiloName} could not withdraw its devices from the coordinator: {Reason}")]
    private static partial void LogWithdrawFailed(ILogger logger, string siloName, string reason);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "MInference silo {SiloName} could not report its devices to the coordinator (retried in a few seconds): {Reason}")]
    private static partial void LogReportFailed(ILogger logger, string siloName, string reason);
}
