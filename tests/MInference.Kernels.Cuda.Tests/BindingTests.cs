using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>The driver binding itself: device description, error reporting, memory accounting, events.</summary>
public sealed class BindingTests(CudaFixture fixture)
{
    /// <summary>The device is described with a name, memory and a compute capability of at least 8.0 (what the fatbin targets).</summary>
    [Fact]
    public void Device_is_described()
    {
        var backend = fixture.Backend;
        var device = backend.Context.Device;
        Assert.False(string.IsNullOrWhiteSpace(device.Name));
        Assert.True(device.TotalMemoryBytes > 1L << 30, $"total memory {device.TotalMemoryBytes}");
        Assert.True(device.ComputeMajor >= 8, $"compute capability {device.ComputeMajor}.{device.ComputeMinor}");
        Assert.True(device.Multiprocessors > 0);
        TestContext.Current.SendDiagnosticMessage($"{backend.Name}: {device}; cuBLAS from {CublasHandle.LibraryPath}");
    }

    /// <summary>An allocation larger than the GPU fails with an out-of-memory error that states requested and free bytes, and accounting is unchanged.</summary>
    [Fact]
    public void Oversized_allocation_reports_requested_and_free()
    {
        var backend = fixture.Backend;
        var before = backend.Context.AllocatedBytes;
        var error = Assert.Throws<CudaOutOfMemoryException>(() => backend.Context.Allocate(1L << 50));
        Assert.Equal(1L << 50, error.RequestedBytes);
        Assert.True(error.FreeBytes > 0 && error.FreeBytes <= error.TotalBytes);
        Assert.Contains("requested", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, backend.Context.AllocatedBytes);
    }

    /// <summary>Allocations are counted while held and uncounted when freed.</summary>
    [Fact]
    public void Allocations_are_accounted()
    {
        var backend = fixture.Backend;
        var before = backend.Context.AllocatedBytes;
        using (var buffer = backend.Context.Allocate(3 << 20))
        {
            Assert.Equal(before + (3 << 20), backend.Context.AllocatedBytes);
        }

        Assert.Equal(before, backend.Context.AllocatedBytes);
    }

    /// <summary>A failing driver call throws naming the call and the CUresult's name.</summary>
    [Fact]
    public void Driver_errors_name_the_call_and_code()
    {
        var backend = fixture.Backend;
        var error = Assert.Throws<CudaException>(() => backend.Module.GetKernel("no_such_kernel"));
        Assert.Contains("cuModuleGetFunction(no_such_kernel)", error.Message, StringComparison.Ordinal);
        Assert.Contains("CUDA_ERROR_NOT_FOUND", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Events recorded around work on the stream give a finite, non-negative elapsed time.</summary>
    [Fact]
    public void Events_time_stream_work()
    {
        var backend = fixture.Backend;
        using var start = new CudaEvent(backend.Context);
        using var end = new CudaEvent(backend.Context);
        using var tensor = backend.Allocate(1024, 1024);
        start.Record(backend.Stream);
        backend.FillRandom(tensor, 7);
        end.Record(backend.Stream);
        end.Synchronize();
        var ms = end.ElapsedSince(start);
        Assert.True(float.IsFinite(ms) && ms >= 0, $"elapsed {ms} ms");
    }
}
