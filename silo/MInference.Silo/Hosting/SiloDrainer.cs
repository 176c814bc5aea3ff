using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MInference.Silo.Hosting;

/// <summary>
/// Graceful shutdown, second step: after <see cref="DeviceRegistrar"/> has withdrawn this silo's devices
/// (no new plan uses them), waits up to <c>MInference:DrainTimeout</c> for the jobs on them to finish,
/// then logs the ids of those still running; their job grains re-plan them onto the remaining silos.
/// </summary>
internal sealed partial class SiloDrainer(
    IInFlightWork work,
    IOptions<MInferenceSiloOptions> options,
    TimeProvider time,
    ILogger<SiloDrainer> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>How often the drain looks at the devices again; a chunk of a small model takes about this long.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Below the registrar's stage, so on stop it runs after the devices are withdrawn.</summary>
    public const int LifecycleStage = ServiceLifecycleStage.Active;

    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe(nameof(SiloDrainer), LifecycleStage, _ => Task.CompletedTask, DrainAsync);

    internal async Task<IReadOnlyCollection<string>> DrainAsync(CancellationToken cancellationToken)
    {
        var timeout = options.Value.DrainTimeout;
        var started = time.GetTimestamp();
        var left = work.ActiveJobIds();
        if (left.Count == 0)
        {
            return left;
        }

        LogDraining(logger, left.Count, timeout, left);
        using var timer = new PeriodicTimer(CheckInterval, time);
        try
        {
            while (left.Count > 0 && time.GetElapsedTime(started) < timeout && await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                left = work.ActiveJobIds();
            }
        }
        catch (OperationCanceledException)
        {
            // The host's shutdown timeout cut the drain short; report what is left all the same.
        }

        var elapsed = time.GetElapsedTime(started);
        if (left.Count == 0)
        {
            LogDrained(logger, elapsed);
        }
        else
        {
            LogLeftRunning(logger, left.Count, left);
        }

        return left;
    }

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "Draining: waiting up to {Timeout} for {Count} job(s) on this silo's devices: {JobIds}")]
    private static partial void LogDraining(ILogger logger, int count, TimeSpan timeout, IEnumerable<string> jobIds);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Information, Message = "Drained: every job on this silo's devices finished after {Elapsed}")]
    private static partial void LogDrained(ILogger logger, TimeSpan elapsed);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Warning, Message = "Stopping with {Count} job(s) still on this silo's devices; their job grains re-plan them: {JobIds}")]
    private static partial void LogLeftRunning(ILogger logger, int count, IEnumerable<string> jobIds);
}
