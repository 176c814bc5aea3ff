using MInference.Shared.Contracts;

namespace MInference.Silo.Hosting;

/// <summary>Finds the devices this silo offers for stages; the coordinator plans over them and <see cref="Devices.DeviceWorkerPool"/> opens them.</summary>
public interface IDeviceDiscovery
{
    IReadOnlyList<DeviceDescriptor> Discover(string siloName);
}
