using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>What <see cref="ComputeBackendFactory.Create"/> opened, and why that one.</summary>
public sealed record ComputeBackendChoice(IComputeBackend Backend, ComputeDevice Device, string Reason);

/// <summary>
/// Opens the compute backend for a device request: CUDA where libcuda.so.1 loads, reports a device at
/// <c>ordinal</c> and the kernels' fatbin is found (<see cref="CudaModule.FatbinVariable"/>, else beside
/// the application), the CPU reference backend otherwise. One log line says which and why. A silo's
/// device workers, the CLI and benchmarks all choose through here.
/// </summary>
public static partial class ComputeBackendFactory
{
    /// <summary>
    /// Opens the backend for <paramref name="device"/>. <see cref="ComputeDevice.Auto"/> never throws for a
    /// missing GPU (it falls back to the CPU, saying why); <see cref="ComputeDevice.Cuda"/> throws
    /// <see cref="CudaException"/> naming what is missing.
    /// </summary>
    public static ComputeBackendChoice Create(
        ComputeDevice device,
        ILogger? logger = null,
        int cudaOrdinal = 0,
        CpuBackendOptions? cpuOptions = null)
    {
        logger ??= NullLogger.Instance;
        ArgumentOutOfRangeException.ThrowIfNegative(cudaOrdinal);
        if (device == ComputeDevice.Cpu)
        {
            return Cpu(logger, "the CPU was asked for", cpuOptions);
        }

        if (!Enum.IsDefined(device))
        {
            throw new ArgumentOutOfRangeException(nameof(device), device, "device must be auto, cpu or cuda");
        }

        var unavailable = CudaUnavailableReason(cudaOrdinal, out var fatbin);
        if (unavailable is null)
        {
            try
            {
                var backend = CudaBackend.Create(cudaOrdinal, fatbin);
                var reason = $"device {cudaOrdinal} present, kernels from {fatbin}";
                LogChose(logger, backend.Name, reason);
                return new ComputeBackendChoice(backend, ComputeDevice.Cuda, reason);
            }
            catch (Exception e) when (device == ComputeDevice.Auto && e is CudaException or DllNotFoundException or IOException)
            {
                unavailable = $"opening cuda:{cudaOrdinal} failed: {e.Message}";
            }
        }

        if (device == ComputeDevice.Cuda)
        {
            throw new CudaException($"CUDA was asked for but is unusable: {unavailable}");
        }

        return Cpu(logger, $"no usable GPU ({unavailable})", cpuOptions);
    }

    /// <summary>Null when CUDA can be opened on <paramref name="ordinal"/> (with <paramref name="fatbin"/> set); otherwise what is missing.</summary>
    public static string? CudaUnavailableReason(int ordinal, out string? fatbin)
    {
        fatbin = null;
        string? driver;
        try
        {
            driver = CudaDevice.Probe();
        }
        catch (CudaException e)
        {
            driver = e.Message;
        }

        if (driver is not null)
        {
            return driver;
        }

        var count = CudaDevice.Count;
        if (ordinal >= count)
        {
            return $"device ordinal {ordinal} asked for but the driver reports {count} device(s)";
        }

        try
        {
            fatbin = CudaModule.LocateFatbin();
            return null;
        }
        catch (FileNotFoundException e)
        {
            return e.Message;
        }
    }

    private static ComputeBackendChoice Cpu(ILogger logger, string reason, CpuBackendOptions? options)
    {
        var backend = new CpuBackend(options ?? new CpuBackendOptions());
        LogChose(logger, backend.Name, reason);
        return new ComputeBackendChoice(backend, ComputeDevice.Cpu, reason);
    }
}
