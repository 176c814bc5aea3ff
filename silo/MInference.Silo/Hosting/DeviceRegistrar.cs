using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MInference.Shared.Contracts;

namespace MInference.Silo.Hosting;

/// <summary>
/// Reports this silo's devices (and configured models) to the coordinator once the silo is active, and
/// again whenever another silo dies and every <see cref="RefreshInterval"/>. The coordinator persists what
/// it was told, but storage in memory (embedded and dev mode) may have lived on the dead silo, and while
/// silos join one after another a second coordinator activation can replace the first (seen by `bench
/// cluster` in 3 of 5 starts) before the first wrote anything. Registration is idempotent and writes
/// nothing when nothing changed. Withdraws them first thing on stop, so no new plan uses them while
/// <see cref="SiloDrainer"/> waits.
/// </summary>
internal sealed partial class DeviceRegistrar(
    IGrainFactory grains,
    ILocalSiloDetails silo,
    IDeviceDiscovery discovery,
    IClusterMembershipService membership,
    IOptions<MInferenceSiloOptions> options,
    ILogger<DeviceRegistrar> logger) : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private IReadOnlyList<DeviceDescriptor>? _devices;
    private Task? _watch;
    private Task? _refresh;

    /// <summary>How often the devices are registered again while the silo runs.</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(5);

    /// <summary>Just after Active: starts once grains can be called, stops before the drain.</summary>
    public const int LifecycleStage = ServiceLifecycleStage.Active + 1;

    /// <summary>How long the start keeps trying to reach the coordinator while the cluster settles.</summary>
    public static readonly TimeSpan StartPatience = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan _startRetryBackoff = TimeSpan.FromSeconds(1);

    /// <summary>Logged when the silo can take work; scripts and the process tests wait for it.</summary>
    public const string ReadyMarker = "is ready with";

    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe(nameof(DeviceRegistrar), LifecycleStage, StartAsync, StopAsync);

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        var devices = _devices = discovery.Discover(silo.Name);
        var waited = Stopwatch.StartNew();
        for (var tries = 1; ; tries++)
        {
            try
            {
                await RegisterAsync(devices, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (waited.Elapsed < StartPatience && e is OrleansMessageRejectionException or SiloUnavailableException or TimeoutException)
            {
                // A silo restarted on its old address may reach the directory through its own dead
                // incarnation until membership declares that one dead: a moment's wait, not a failed start.
                LogRegisterRetry(logger, silo.Name, tries, e.Message);
                await Task.Delay(_startRetryBackoff, cancellationToken).ConfigureAwait(false);
            }
        }

        LogReady(logger, silo.Name, devices.Count, options.Value.Models.Count, silo.GatewayAddress);
        _watch = Task.Run(() => ReregisterOnSiloDeathAsync(_stopping.Token), CancellationToken.None);
        _refresh = Task.Run(() => RefreshPeriodicallyAsync(devices, _stopping.Token), CancellationToken.None);
    }

    private async Task RegisterAsync(IReadOnlyList<DeviceDescriptor> devices, CancellationToken cancellationToken)
    {
        var coordinator = grains.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);
        await coordinator.RegisterDevicesAsync(silo.Name, devices).WaitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (id, directory) in options.Value.Models)
        {
            await coordinator.RegisterModelAsync(id, directory).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Registers again each time membership declares another silo dead (registration is idempotent).</summary>
    private async Task ReregisterOnSiloDeathAsync(CancellationToken cancellationToken)
    {
        var dead = new HashSet<SiloAddress>(membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead).Select(m => m.SiloAddress));
        try
        {
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                var died = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Dead && dead.Add(m.SiloAddress)).ToList();
                if (died.Count == 0 || _devices is not { } devices)
                {
                    continue;
                }

                try
                {
                    await RegisterAsync(devices, cancellationToken).ConfigureAwait(false);
                    var names = string.Join(", ", died.Select(m => m.Name));
                    LogReregistered(logger, silo.Name, names);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogReregisterFailed(logger, silo.Name, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task RefreshPeriodicallyAsync(IReadOnlyList<DeviceDescriptor> devices, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(RefreshInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await RegisterAsync(devices, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogRefreshFailed(logger, silo.Name, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    public void Dispose() => _stopping.Dispose();

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        // Both loops end before the withdrawal: a registration after it would put the devices back.
        foreach (var loop in new[] { _watch, _refresh })
        {
            if (loop is not null)
            {
                await loop.ConfigureAwait(false);
            }
        }

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

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "MInference silo {SiloName} registered its devices again after silo(s) {Dead} died (the coordinator may have lived there)")]
    private static partial void LogReregistered(ILogger logger, string siloName, string dead);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "MInference silo {SiloName} could not register its devices again after a silo died: {Reason}")]
    private static partial void LogReregisterFailed(ILogger logger, string siloName, string reason);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "MInference silo {SiloName} could not reach the coordinator yet (try {Try}); trying again: {Reason}")]
    private static partial void LogRegisterRetry(ILogger logger, string siloName, int @try, string reason);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "MInference silo {SiloName} could not refresh its devices with the coordinator (tried again in a few seconds): {Reason}")]
    private static partial void LogRefreshFailed(ILogger logger, string siloName, string reason);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "MInference silo {SiloName} could not withdraw its devices from the coordinator: {Reason}")]
    private static partial void LogWithdrawFailed(ILogger logger, string siloName, string reason);
}
