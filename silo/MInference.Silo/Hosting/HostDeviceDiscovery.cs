using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MInference.Shared.Contracts;

namespace MInference.Silo.Hosting;

/// <summary>
/// The silo's default discovery: the machine's CUDA devices when the driver reports any and
/// <c>MInference:ForceCpu</c> is off, otherwise the configured CPU devices. Decides once and logs why.
/// </summary>
internal sealed partial class HostDeviceDiscovery(IOptions<MInferenceSiloOptions> options, ILogger<HostDeviceDiscovery> logger) : IDeviceDiscovery
{
    private readonly Lazy<IDeviceDiscovery> _chosen = new(() => Choose(options, logger));

    public IReadOnlyList<DeviceDescriptor> Discover(string siloName)
    {
        var devices = _chosen.Value.Discover(siloName);
        foreach (var device in devices)
        {
            LogDevice(logger, device.StageKey, device.Kind, device.Name, device.MemoryBytes >> 20);
        }

        return devices;
    }

    private static IDeviceDiscovery Choose(IOptions<MInferenceSiloOptions> options, ILogger logger)
    {
        var cpu = new CpuDeviceDiscovery(options);
        if (options.Value.ForceCpu)
        {
            LogCpuChosen(logger, options.Value.CpuDevices, "MInference:ForceCpu is set");
            return cpu;
        }

        if (CudaDeviceDiscovery.Unavailable() is { } reason)
        {
            LogCpuChosen(logger, options.Value.CpuDevices, reason);
            return cpu;
        }

        return new CudaDeviceDiscovery();
    }

    [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Offering {CpuDevices} CPU device(s): {Reason}")]
    private static partial void LogCpuChosen(ILogger logger, int cpuDevices, string reason);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Information, Message = "Device {StageKey}: {Kind} {Name}, {MemoryMiB} MiB")]
    private static partial void LogDevice(ILogger logger, string stageKey, string kind, string name, long memoryMiB);
}
