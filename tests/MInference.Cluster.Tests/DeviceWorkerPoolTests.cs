using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MInference.DataPlane;
using MInference.Kernels.Cpu;
using MInference.Kernels.Cuda;
using MInference.Shared.Contracts;
using MInference.Silo.DataPlane;
using MInference.Silo.Devices;
using MInference.Silo.Grains;
using MInference.Silo.Hosting;
using Orleans.TestingHost;

namespace MInference.Cluster.Tests;

public sealed class DeviceWorkerPoolTests(ClusterFixture fixture)
{
    private const string SiloName = "pool-test-silo";

    /// <summary>
    /// The pool's workers are the discovered devices, not a count from the options: a silo offering CPU
    /// devices 0 and 2 opens a CPU backend for each (once, then the same worker), and device 1, which it
    /// does not offer, is an error naming the devices it has.
    /// </summary>
    [Fact]
    public async Task Workers_follow_the_discovered_cpu_devices()
    {
        var discovery = new FakeDiscovery(Cpu(0), Cpu(2));
        await using var parts = new PoolParts();
        using var pool = parts.Pool(discovery);

        var worker = pool.Get(2);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => pool.Get(1));

        Assert.Equal(2, pool.Count);
        Assert.Equal(2, worker.DeviceIndex);
        Assert.IsType<CpuBackend>(worker.Backend);
        Assert.Same(worker, pool.Get(2));
        Assert.IsType<CpuBackend>(pool.Get(0).Backend);
        Assert.Contains("offers no device 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("0, 2", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A <c>cuda</c> device gets the CUDA backend on its ordinal, opened only when a stage asks: building
    /// the pool and asking it for in-flight work (what the drain does) neither discovers nor opens
    /// anything. The discovery is a fake because this machine may have no GPU: without one, opening the
    /// device fails with an error that names the device and what is missing; with one, it is a CUDA backend.
    /// </summary>
    [Fact]
    public async Task A_cuda_device_is_opened_lazily_and_a_failure_names_it()
    {
        var discovery = new FakeDiscovery(new DeviceDescriptor(SiloName, 0, DeviceDescriptor.CudaKind, "fake GPU for a machine without one", 80L << 30));
        await using var parts = new PoolParts();
        using var pool = parts.Pool(discovery);

        var active = pool.ActiveJobIds();

        Assert.Empty(active);
        Assert.Equal(0, discovery.Calls);
        if (ComputeBackendFactory.CudaUnavailableReason(0, out _) is { } missing)
        {
            var error = Assert.Throws<InvalidOperationException>(() => pool.Get(0));
            Assert.Contains(StageKeys.Format(SiloName, 0), error.Message, StringComparison.Ordinal);
            Assert.Contains("cuda", error.Message, StringComparison.Ordinal);
            Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        }
        else
        {
            Assert.IsType<CudaBackend>(pool.Get(0).Backend);
        }

        Assert.Equal(1, discovery.Calls);
    }

    /// <summary>A device of a kind the silo cannot open is refused with the kind and the device named.</summary>
    [Fact]
    public async Task An_unknown_device_kind_is_refused_by_name()
    {
        await using var parts = new PoolParts();
        using var pool = parts.Pool(new FakeDiscovery(new DeviceDescriptor(SiloName, 0, "tpu", "tpu0", 1L << 30)));

        var error = Assert.Throws<InvalidOperationException>(() => pool.Get(0));

        Assert.Contains("'tpu'", error.Message, StringComparison.Ordinal);
        Assert.Contains(StageKeys.Format(SiloName, 0), error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// In a running silo the drain's view of in-flight work is the device pool itself (the pool replaced
    /// the default registration), and it reports the jobs of the workers the stages opened.
    /// </summary>
    [Fact]
    public void The_silos_in_flight_work_is_its_device_pool()
    {
        var services = ((InProcessSiloHandle)fixture.Cluster.Silos[0]).SiloHost.Services;

        var work = services.GetRequiredService<IInFlightWork>();

        Assert.Same(services.GetRequiredService<DeviceWorkerPool>(), work);
    }

    private static DeviceDescriptor Cpu(int index) => new(SiloName, index, DeviceDescriptor.CpuKind, $"cpu{index}", 1L << 30);

    /// <summary>Offers a fixed list of devices and counts how often it was asked.</summary>
    private sealed class FakeDiscovery(params DeviceDescriptor[] devices) : IDeviceDiscovery
    {
        public int Calls { get; private set; }

        public IReadOnlyList<DeviceDescriptor> Discover(string siloName)
        {
            Assert.Equal(SiloName, siloName);
            Calls++;
            return devices;
        }
    }

    /// <summary>What a pool needs besides its discovery, outside a silo: a channel and a data plane on an ephemeral port.</summary>
    private sealed class PoolParts : IAsyncDisposable
    {
        private readonly InProcessActivationChannel _channel = new(SiloName);
        private readonly SiloDataPlane _dataPlane = new(
            Options.Create(new DataPlaneOptions()), Options.Create(new ClusterExecutionOptions()), SiloName, NullLoggerFactory.Instance);

        public DeviceWorkerPool Pool(IDeviceDiscovery discovery) => new(
            Options.Create(new MInferenceSiloOptions { CpuThreadsPerDevice = 1 }),
            Options.Create(new ClusterExecutionOptions()),
            discovery,
            _channel,
            _dataPlane,
            NullLoggerFactory.Instance);

        public async ValueTask DisposeAsync()
        {
            _channel.Dispose();
            await _dataPlane.DisposeAsync();
        }
    }
}
