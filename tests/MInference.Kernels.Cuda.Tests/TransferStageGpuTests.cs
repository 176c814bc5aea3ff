using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MInference.DataPlane;
using MInference.Shared.Contracts;
using MInference.Silo.DataPlane;
using MInference.Silo.Devices;
using MInference.Silo.Grains;
using MInference.Silo.Hosting;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>The silo's stage workers on the GPU: opened by the pool, chained in process and across silos.</summary>
public sealed class TransferStageGpuTests(CudaFixture fixture)
{
    private const int ChunkTokens = 97;
    private const int TokenCount = 301;

    /// <summary>
    /// The device worker pool opens a <c>cuda</c> device through the backend factory as a real CUDA
    /// backend, and a tiny model pre-filled through that worker chunk by chunk gives the CPU engine's
    /// logits within the bf16 tolerance of <see cref="EngineOnGpuTests.LogitTolerance"/>.
    /// </summary>
    [Fact]
    public async Task Pool_opens_a_cuda_worker_that_prefills_like_the_cpu_engine()
    {
        var gpu = fixture.Backend;
        var ct = TestContext.Current.CancellationToken;
        using var model = new TransferModelCase(TokenCount, referenceChunkTokens: TokenCount, ct);
        await using var dataPlane = new SiloDataPlane(Options.Create(new DataPlaneOptions()), Options.Create(new ClusterExecutionOptions()), "gpu-silo", NullLoggerFactory.Instance);
        using var channel = new InProcessActivationChannel("gpu-silo");
        var info = gpu.Context.Device;
        using var pool = new DeviceWorkerPool(
            Options.Create(new MInferenceSiloOptions()),
            Options.Create(new ClusterExecutionOptions()),
            new OneCudaDevice(new DeviceDescriptor("gpu-silo", info.Ordinal, "cuda", info.Name, info.TotalMemoryBytes)),
            channel,
            dataPlane,
            NullLoggerFactory.Instance);
        var worker = pool.Get(info.Ordinal);
        Assert.IsType<CudaBackend>(worker.Backend);
        var job = "pool-" + Guid.NewGuid().ToString("n");
        float[]? logits = null;
        var index = 0;
        foreach (var chunk in model.Chunks(ChunkTokens))
        {
            var result = await worker.RunChunkAsync(
                new StageChunkRequest(job, index++, model.ModelDirectory, 0, model.Spec.LayerCount, TokenCount, chunk, null), ct);
            logits = result.Logits;
        }

        Assert.True(worker.ReleaseJob(job));
        Assert.NotNull(logits);
        TestContext.Current.SendDiagnosticMessage($"pool worker: logits relative L2 {RelativeL2(logits, model.ExpectedLogits):E3}");
        AssertClose(logits, model.ExpectedLogits, model.Seed, "CUDA worker from the pool vs CPU engine", EngineOnGpuTests.LogitTolerance);
    }

    /// <summary>
    /// Two CUDA workers (two backends, two streams) of one silo chain a tiny model: every chunk's hidden
    /// states cross by the device hand-off (none through host memory), and the logits match the CPU engine
    /// within the bf16 tolerance.
    /// </summary>
    [Fact]
    public async Task Two_cuda_workers_of_one_silo_chain_through_the_device_hand_off()
    {
        var ordinal = fixture.Backend.Context.Device.Ordinal;
        var ct = TestContext.Current.CancellationToken;
        using var model = new TransferModelCase(TokenCount, referenceChunkTokens: TokenCount, ct);
        using var first = CudaBackend.Create(ordinal);
        using var second = CudaBackend.Create(CudaDevice.Count > 1 ? 1 : ordinal);
        await using (var stages = new TransferStages(first, second, twoSilos: false))
        {
            var (logits, tickets) = await stages.RunAsync(model, ChunkTokens, ct);

            Assert.Equal(tickets.Count, stages.FirstChannel.DeviceHandOffs);
            Assert.Equal(0, stages.FirstChannel.HostHandOffs);
            Assert.All(tickets, t => Assert.Null(t.SourceEndpoint));
            TestContext.Current.SendDiagnosticMessage($"device hand-off over {tickets.Count} chunks: logits relative L2 {RelativeL2(logits, model.ExpectedLogits):E3}");
            AssertClose(logits, model.ExpectedLogits, model.Seed, "two CUDA stages chained on the GPU vs CPU engine", EngineOnGpuTests.LogitTolerance);
        }
    }

    /// <summary>
    /// CUDA stages on two silos send bf16 over the TCP data plane by default (2 bytes per value, lossless for
    /// bf16 activations), and the logits match the CPU engine within the bf16 tolerance.
    /// </summary>
    [Fact]
    public async Task Cuda_stages_on_two_silos_send_bf16_over_tcp_by_default()
    {
        var ordinal = fixture.Backend.Context.Device.Ordinal;
        var ct = TestContext.Current.CancellationToken;
        using var model = new TransferModelCase(TokenCount, referenceChunkTokens: TokenCount, ct);
        using var first = CudaBackend.Create(ordinal);
        using var second = CudaBackend.Create(ordinal);
        await using var stages = new TransferStages(first, second, twoSilos: true);

        var (logits, tickets) = await stages.RunAsync(model, ChunkTokens, ct);

        Assert.All(tickets, t => Assert.Equal((ActivationWire.BF16, t.Rows * t.Columns * 2), (t.DType, t.ByteLength)));
        Assert.All(tickets, t => Assert.NotNull(t.SourceEndpoint));
        AssertClose(logits, model.ExpectedLogits, model.Seed, "two CUDA stages across silos (bf16 over TCP) vs CPU engine", EngineOnGpuTests.LogitTolerance);
    }

    /// <summary>Offers one CUDA device, as the silo's discovery would on a one-GPU host.</summary>
    private sealed class OneCudaDevice(DeviceDescriptor device) : IDeviceDiscovery
    {
        public IReadOnlyList<DeviceDescriptor> Discover(string siloName) => [device with { SiloName = siloName }];
    }
}
