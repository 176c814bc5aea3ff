using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MInference.Kernels.Cuda;
using MInference.Shared.Contracts;
using MInference.Silo.Hosting;

namespace MInference.Cluster.ProcessTests;

public sealed class DeviceDiscoveryTests
{
    /// <summary>ForceCpu offers exactly the configured CPU devices, keyed by the silo's name, whatever the machine has.</summary>
    [Fact]
    public void Force_cpu_offers_the_configured_cpu_devices()
    {
        var discovery = Discovery(new MInferenceSiloOptions { ForceCpu = true, CpuDevices = 3, CpuDeviceMemoryBytes = 1L << 30 });

        var devices = discovery.Discover("s1");

        Assert.Equal(["s1/0", "s1/1", "s1/2"], devices.Select(d => d.StageKey));
        Assert.All(devices, d => Assert.Equal(DeviceDescriptor.CpuKind, d.Kind));
        Assert.All(devices, d => Assert.Equal(1L << 30, d.MemoryBytes));
    }

    /// <summary>
    /// Without ForceCpu the silo offers every CUDA device the driver reports (name and total memory from
    /// the driver) where there is one, and otherwise falls back to the configured CPU devices.
    /// </summary>
    [Fact]
    public void Default_discovery_offers_cuda_devices_where_the_driver_reports_some_and_cpu_devices_otherwise()
    {
        var discovery = Discovery(new MInferenceSiloOptions { CpuDevices = 2 });

        var devices = discovery.Discover("s2");

        if (CudaDeviceDiscovery.Unavailable() is { } reason)
        {
            Assert.Equal(2, devices.Count);
            Assert.All(devices, d => Assert.Equal(DeviceDescriptor.CpuKind, d.Kind));
            TestContext.Current.TestOutputHelper?.WriteLine($"CPU devices offered because: {reason}");
        }
        else
        {
            Assert.Equal(CudaDevice.Count, devices.Count);
            Assert.All(devices, d => Assert.Equal(DeviceDescriptor.CudaKind, d.Kind));
            Assert.All(devices, d => Assert.Equal(CudaDevice.Describe(d.DeviceIndex).TotalMemoryBytes, d.MemoryBytes));
            Assert.All(devices, d => Assert.StartsWith(CudaDevice.Describe(d.DeviceIndex).Name, d.Name, StringComparison.Ordinal));
        }
    }

    private static HostDeviceDiscovery Discovery(MInferenceSiloOptions options)
        => new(Options.Create(options), NullLogger<HostDeviceDiscovery>.Instance);
}
