using MInference.Kernels.Cpu;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// The backend factory's choice on whatever machine runs the tests: these run with or without a GPU
/// (they never skip), and check that the choice agrees with what the probe found and says why.
/// </summary>
public sealed class ComputeBackendFactoryTests
{
    /// <summary>Asking for the CPU always gives the CPU backend, with the options given.</summary>
    [Fact]
    public void Cpu_is_always_the_cpu_backend()
    {
        var choice = ComputeBackendFactory.Create(ComputeDevice.Cpu, cpuOptions: new CpuBackendOptions { MaxDegreeOfParallelism = 1 });
        using var backend = choice.Backend;
        Assert.IsType<CpuBackend>(backend);
        Assert.Equal(ComputeDevice.Cpu, choice.Device);
        Assert.Contains("1 thread", backend.Name, StringComparison.Ordinal);
    }

    /// <summary>Auto opens CUDA exactly when the probe finds driver, device and fatbin; otherwise the CPU, naming the probe's reason.</summary>
    [Fact]
    public void Auto_follows_the_probe_and_says_why()
    {
        var unavailable = ComputeBackendFactory.CudaUnavailableReason(0, out var fatbin);
        var choice = ComputeBackendFactory.Create(ComputeDevice.Auto);
        using var backend = choice.Backend;
        if (unavailable is null)
        {
            Assert.IsType<CudaBackend>(backend);
            Assert.Equal(ComputeDevice.Cuda, choice.Device);
            Assert.Contains(fatbin!, choice.Reason, StringComparison.Ordinal);
        }
        else
        {
            Assert.IsType<CpuBackend>(backend);
            Assert.Equal(ComputeDevice.Cpu, choice.Device);
            Assert.Contains(unavailable, choice.Reason, StringComparison.Ordinal);
        }
    }

    /// <summary>Asking for CUDA where it is unusable throws, naming what is missing; where it is usable it opens it.</summary>
    [Fact]
    public void Cuda_throws_naming_what_is_missing()
    {
        var unavailable = ComputeBackendFactory.CudaUnavailableReason(0, out _);
        if (unavailable is null)
        {
            using var backend = ComputeBackendFactory.Create(ComputeDevice.Cuda).Backend;
            Assert.IsType<CudaBackend>(backend);
            return;
        }

        var error = Assert.Throws<CudaException>(() => ComputeBackendFactory.Create(ComputeDevice.Cuda));
        Assert.Contains(unavailable, error.Message, StringComparison.Ordinal);
    }

    /// <summary>An ordinal past the devices present is a reason, not a crash (on machines without a GPU, the driver's reason comes first).</summary>
    [Fact]
    public void Missing_ordinal_is_a_reason()
    {
        var reason = ComputeBackendFactory.CudaUnavailableReason(1000, out var fatbin);
        Assert.NotNull(reason);
        Assert.Null(fatbin);
    }
}
