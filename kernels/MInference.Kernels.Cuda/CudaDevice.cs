using System.Text;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>What a silo advertises about one GPU.</summary>
public sealed record CudaDeviceInfo(int Ordinal, string Name, long TotalMemoryBytes, int ComputeMajor, int ComputeMinor, int Multiprocessors);

/// <summary>Device discovery through the driver API; <see cref="Probe"/> says why no GPU is usable.</summary>
public static unsafe class CudaDevice
{
    internal const int AttributeMultiprocessorCount = 16;
    internal const int AttributeComputeMajor = 75;
    internal const int AttributeComputeMinor = 76;

    private static readonly Lazy<string?> _initError = new(InitOnce);

    /// <summary>Null when the driver loaded and has at least one device; otherwise the reason.</summary>
    public static string? Probe()
    {
        if (_initError.Value is { } error)
        {
            return error;
        }

        CudaException.Check(CudaDriver.DeviceGetCount(out var count), "cuDeviceGetCount");
        return count == 0 ? "the CUDA driver reports no devices" : null;
    }

    public static int Count
    {
        get
        {
            EnsureInitialised();
            CudaException.Check(CudaDriver.DeviceGetCount(out var count), "cuDeviceGetCount");
            return count;
        }
    }

    public static CudaDeviceInfo Describe(int ordinal)
    {
        EnsureInitialised();
        var count = Count;
        if (ordinal < 0 || ordinal >= count)
        {
            throw new ArgumentOutOfRangeException(nameof(ordinal), ordinal, $"device ordinal must be in [0, {count})");
        }

        CudaException.Check(CudaDriver.DeviceGet(out var device, ordinal), "cuDeviceGet");
        var name = stackalloc byte[256];
        CudaException.Check(CudaDriver.DeviceGetName(name, 256, device), "cuDeviceGetName");
        CudaException.Check(CudaDriver.DeviceTotalMem(out var total, device), "cuDeviceTotalMem_v2");
        return new CudaDeviceInfo(
            ordinal,
            Encoding.UTF8.GetString(new ReadOnlySpan<byte>(name, 256).TrimEnd((byte)0)).TrimEnd('\0'),
            (long)total,
            Attribute(device, AttributeComputeMajor),
            Attribute(device, AttributeComputeMinor),
            Attribute(device, AttributeMultiprocessorCount));
    }

    internal static void EnsureInitialised()
    {
        if (_initError.Value is { } error)
        {
            throw new CudaException(error);
        }
    }

    private static int Attribute(int device, int attribute)
    {
        CudaException.Check(CudaDriver.DeviceGetAttribute(out var value, attribute, device), $"cuDeviceGetAttribute({attribute})");
        return value;
    }

    private static string? InitOnce()
    {
        try
        {
            var result = CudaDriver.Init(0);
            return result == 0 ? null : $"cuInit failed with {CudaException.NameOf(result)} ({result})";
        }
        catch (DllNotFoundException e)
        {
            return $"libcuda.so.1 could not be loaded (no NVIDIA driver on this machine): {e.Message.Split('\n')[0]}";
        }
        catch (EntryPointNotFoundException e)
        {
            return $"libcuda.so.1 lacks an entry point ({e.Message})";
        }
    }
}
