using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MInference.Shared.Contracts;
using MInference.Silo.Hosting;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>A real Orleans silo on a GPU machine, configured as a deployment would be: nothing faked.</summary>
public sealed class SiloOnGpuTests(CudaFixture fixture)
{
    private const int TokenCount = 257;

    private const int ChunkTokens = 64;

    /// <summary>
    /// An in-process silo with the default device discovery offers the machine's CUDA devices (kind, name
    /// and memory as the driver reports them), and a job submitted through its grains runs on a CUDA
    /// stage: it completes with the CPU engine's top token and logits within the bf16 tolerance.
    /// </summary>
    [Fact]
    public async Task Silo_with_default_discovery_runs_a_job_on_the_gpu()
    {
        var device = fixture.Backend.Context.Device;
        var ct = TestContext.Current.CancellationToken;
        using var model = new TransferModelCase(TokenCount, referenceChunkTokens: ChunkTokens, ct);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(FreePort(), FreePort())
            .Configure<Orleans.Configuration.SiloOptions>(o => o.SiloName = "gpu-silo")
            .AddMInference(configure: o => o.SiloName = "gpu-silo"));
        using var host = builder.Build();
        await host.StartAsync(ct);
        try
        {
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            var coordinator = grains.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);
            var devices = await coordinator.GetDevicesAsync();
            await coordinator.RegisterModelAsync("tiny", model.ModelDirectory);
            var job = grains.GetGrain<IJobGrain>("gpu-job-" + Guid.NewGuid().ToString("N"));
            var progress = await job.SubmitAsync(new JobSubmission("tiny", model.Tokens, ChunkTokens, IncludeLogits: true, PatternConfig: JobSubmission.DensePatternConfig));
            while (progress.State is JobState.Queued or JobState.Running)
            {
                progress = await job.WaitForChangeAsync(progress.Version, TimeSpan.FromSeconds(20));
            }

            var result = await job.GetResultAsync();

            var own = Assert.Single(devices, d => d.DeviceIndex == device.Ordinal);
            Assert.All(devices, d => Assert.Equal("cuda", d.Kind));
            Assert.Equal(device.TotalMemoryBytes, own.MemoryBytes);
            Assert.StartsWith(device.Name, own.Name, StringComparison.Ordinal);
            Assert.True(progress.State == JobState.Completed, $"the job ended {progress.State}: {progress.Error}");
            Assert.NotNull(result?.Logits);
            TestContext.Current.SendDiagnosticMessage($"silo on GPU: logits relative L2 {RelativeL2(result.Logits, model.ExpectedLogits):E3}");
            AssertClose(result.Logits, model.ExpectedLogits, model.Seed, "job on a CUDA stage vs CPU engine", EngineOnGpuTests.LogitTolerance);
            Assert.Equal($"gpu-silo/{device.Ordinal}", Assert.Single(result.Stages).StageKey);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
