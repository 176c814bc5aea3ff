using System.Globalization;
using MInference.Kernels.Cuda;
using MInference.Kernels.Cuda.Interop;
using MInference.Shared.Contracts;

namespace MInference.Silo.Hosting;

/// <summary>Offers every CUDA device the driver reports, with its name, compute capability and total memory.</summary>
internal sealed class CudaDeviceDiscovery : IDeviceDiscovery
{
    /// <summary>Null when the driver loaded and reports a device; otherwise why CUDA devices cannot be offered.</summary>
    public static string? Unavailable()
    {
        try
        {
            return CudaDevice.Probe();
        }
        catch (CudaException e)
        {
            return e.Message;
        }
    }

    public IReadOnlyList<DeviceDescriptor> Discover(string siloName)
        => [.. Enumerable.Range(0, CudaDevice.Count).Select(CudaDevice.Describe).Select(d => new DeviceDescriptor(
            siloName,
            d.Ordinal,
            DeviceDescriptor.CudaKind,
            string.Create(CultureInfo.InvariantCulture, $"{d.Name} (sm_{d.ComputeMajor}{d.ComputeMinor}, {d.Multiprocessors} SMs)"),
            d.TotalMemoryBytes))];
}
