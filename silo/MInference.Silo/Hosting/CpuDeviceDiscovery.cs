using System.Globalization;
using Microsoft.Extensions.Options;
using MInference.Shared.Contracts;

namespace MInference.Silo.Hosting;

/// <summary>Offers the configured number of CPU devices, each with the configured memory budget.</summary>
internal sealed class CpuDeviceDiscovery(IOptions<MInferenceSiloOptions> options) : IDeviceDiscovery
{
    public IReadOnlyList<DeviceDescriptor> Discover(string siloName)
    {
        var o = options.Value;
        return [.. Enumerable.Range(0, o.CpuDevices).Select(i => new DeviceDescriptor(
            siloName, i, DeviceDescriptor.CpuKind, string.Create(CultureInfo.InvariantCulture, $"cpu{i} ({o.CpuThreadsPerDevice} threads)"), o.CpuDeviceMemoryBytes))];
    }
}
