using MInference.Shared.Contracts;

namespace MInference.Silo.Hosting;

/// <summary>Finds the devices this silo offers for stages (CUDA discovery plugs in here later).</summary>
public interface IDeviceDiscovery
{
    IReadOnlyList<DeviceDescriptor> Discover(string siloName);
}
