using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MInference.Shared.Contracts;
using MInference.Shared.Models;
using MInference.Shared.Models.Safetensors;
using MInference.Shared.Networking;
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

        var (devices, progress, result) = await RunJobOnGpuSiloAsync(
            model, new JobSubmission("tiny", model.Tokens, ChunkTokens, IncludeLogits: true, PatternConfig: JobSubmission.DensePatternConfig), ct);

        var own = Assert.Single(devices, d => d.DeviceIndex == device.Ordinal);
        Assert.All(devices, d => Assert.Equal(DeviceDescriptor.CudaKind, d.Kind));
        Assert.Equal(device.TotalMemoryBytes, own.MemoryBytes);
        Assert.StartsWith(device.Name, own.Name, StringComparison.Ordinal);
        Assert.True(progress.State == JobState.Completed, $"the job ended {progress.State}: {progress.Error}");
        Assert.NotNull(result?.Logits);
        TestContext.Current.SendDiagnosticMessage($"silo on GPU: logits relative L2 {RelativeL2(result.Logits, model.ExpectedLogits):E3}");
        AssertClose(result.Logits, model.ExpectedLogits, model.Seed, "job on a CUDA stage vs CPU engine", EngineOnGpuTests.LogitTolerance);
        Assert.Equal($"gpu-silo/{device.Ordinal}", Assert.Single(result.Stages).StageKey);
    }

    /// <summary>
    /// KvRetention.Export from a CUDA stage writes each layer's K and V as the GPU caches hold them (bf16,
    /// [document tokens, kvHeads * headDim]) to {dir}/{jobId}/layer-NNN.safetensors, and the values equal
    /// the CPU engine's f32 caches within the bf16 tolerance; no temporary file is left behind.
    /// </summary>
    [Fact]
    public async Task Kv_export_from_a_cuda_stage_writes_bf16_caches_equal_to_the_engine()
    {
        // Skips, saying why, where there is no GPU (the silo would fall back to a CPU stage there).
        _ = fixture.Backend;
        var ct = TestContext.Current.CancellationToken;
        using var model = new TransferModelCase(TokenCount, referenceChunkTokens: ChunkTokens, ct);
        var directory = Directory.CreateTempSubdirectory("minference-gpu-kv-export-").FullName;
        try
        {
            var (devices, progress, result) = await RunJobOnGpuSiloAsync(
                model,
                new JobSubmission("tiny", model.Tokens, ChunkTokens, PatternConfig: JobSubmission.DensePatternConfig, KvRetention: KvRetention.Export, KvExportDirectory: directory),
                ct);

            Assert.All(devices, d => Assert.Equal(DeviceDescriptor.CudaKind, d.Kind));
            Assert.True(progress.State == JobState.Completed, $"the job ended {progress.State}: {progress.Error}");
            Assert.NotNull(result);
            var jobDirectory = Path.Combine(directory, progress.JobId);
            var expectedFiles = Enumerable.Range(0, model.Spec.LayerCount).Select(i => Path.Combine(jobDirectory, $"layer-{i:D3}.safetensors")).ToList();
            Assert.Equal(expectedFiles, result.KvFiles);
            Assert.Equal(expectedFiles.Order(StringComparer.Ordinal), Directory.GetFiles(jobDirectory).Order(StringComparer.Ordinal));
            for (var layer = 0; layer < model.Spec.LayerCount; layer++)
            {
                using var file = SafetensorsFile.Open(expectedFiles[layer]);
                AssertBf16Cache(file, "k", model.ExpectedKeys[layer], model, $"layer {layer} K");
                AssertBf16Cache(file, "v", model.ExpectedValues[layer], model, $"layer {layer} V");
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void AssertBf16Cache(SafetensorsFile file, string name, float[] expected, TransferModelCase model, string what)
    {
        var tensor = file.GetTensor(name);
        Assert.Equal(TensorDType.BFloat16, tensor.Info.DType);
        Assert.Equal([model.Tokens.Length, expected.Length / model.Tokens.Length], tensor.Info.Shape.Select(d => (int)d));
        var actual = new float[expected.Length];
        Array.Fill(actual, float.NaN);
        TensorConversion.ToFloat32(TensorDType.BFloat16, file.GetBytes(name), actual);
        AssertClose(actual, expected, model.Seed, what + ": exported from the CUDA stage vs CPU engine", EngineOnGpuTests.LogitTolerance);
    }

    /// <summary>
    /// Starts an in-process silo with the default device discovery, registers <paramref name="model"/>'s
    /// directory as "tiny", runs <paramref name="submission"/> to its end and stops the silo.
    /// </summary>
    private static async Task<(IReadOnlyList<DeviceDescriptor> Devices, JobProgress Final, JobResult? Result)> RunJobOnGpuSiloAsync(
        TransferModelCase model, JobSubmission submission, CancellationToken cancellationToken)
    {
        var ports = LoopbackPorts.TakeFree(2);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(ports[0], ports[1])
            .Configure<Orleans.Configuration.SiloOptions>(o => o.SiloName = "gpu-silo")
            .AddMInference(configure: o => o.SiloName = "gpu-silo"));
        using var host = builder.Build();
        await host.StartAsync(cancellationToken);
        try
        {
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            var coordinator = grains.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);
            var devices = await coordinator.GetDevicesAsync();
            await coordinator.RegisterModelAsync("tiny", model.ModelDirectory);
            var job = grains.GetGrain<IJobGrain>("gpu-job-" + Guid.NewGuid().ToString("N"));
            var progress = await job.SubmitAsync(submission);
            while (progress.State is JobState.Queued or JobState.Running)
            {
                progress = await job.WaitForChangeAsync(progress.Version, TimeSpan.FromSeconds(20));
            }

            var result = progress.State == JobState.Completed ? await job.GetResultAsync() : null;
            return (devices, progress, result);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }
}
