using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MInference.Client;
using MInference.Cluster.ProcessTests;
using MInference.Shared.Contracts;
using MInference.Shared.Networking;
using MInference.Silo.Hosting;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// The silo as its own OS process on a GPU machine (the `MInference.Silo` executable, configured only by
/// its command line, default device discovery), reached through the client SDK over its gateway.
/// </summary>
public sealed class SiloProcessOnGpuTests(CudaFixture fixture)
{
    private const int TokenCount = 257;

    private const int ChunkTokens = 64;

    private static readonly TimeSpan _startTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A standalone silo process started with nothing but its settings offers this machine's CUDA devices
    /// and runs a job submitted through <see cref="MInferenceClient"/> on a CUDA stage: the job completes
    /// with the CPU engine's logits within the bf16 tolerance.
    /// </summary>
    [Fact]
    public async Task Standalone_silo_process_runs_a_job_on_the_gpu()
    {
        var device = fixture.Backend.Context.Device;
        var ct = TestContext.Current.CancellationToken;
        using var model = new TransferModelCase(TokenCount, referenceChunkTokens: ChunkTokens, ct);
        var ports = LoopbackPorts.TakeFree(2);
        var siloAssembly = Path.Combine(AppContext.BaseDirectory, "MInference.Silo.dll");
        Assert.True(File.Exists(siloAssembly), $"the silo executable is not next to the tests: {siloAssembly}");

        await using var silo = ChildProcess.Start("gpu silo process", DotnetHost(),
        [
            siloAssembly,
            "--MInference:SiloName=gpu-process",
            string.Create(CultureInfo.InvariantCulture, $"--MInference:SiloPort={ports[0]}"),
            string.Create(CultureInfo.InvariantCulture, $"--MInference:GatewayPort={ports[1]}"),
            "--MInference:Models:tiny=" + model.ModelDirectory,
        ], DeviceRegistrar.ReadyMarker);
        try
        {
            await silo.WaitReadyAsync(_startTimeout, ct);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"{e.Message}; its output:\n{silo.Tail()}", e);
        }

        var clientBuilder = Host.CreateApplicationBuilder();
        clientBuilder.Logging.ClearProviders();
        clientBuilder.Services.AddMInferenceClient([new IPEndPoint(IPAddress.Loopback, ports[1])]);
        using var clientHost = clientBuilder.Build();
        await clientHost.StartAsync(ct);
        try
        {
            var client = clientHost.Services.GetRequiredService<MInferenceClient>();
            var devices = await client.GetDevicesAsync(ct);
            var jobId = "gpu-process-job-" + Guid.NewGuid().ToString("N");
            await client.SubmitAsync(jobId, new JobSubmission("tiny", model.Tokens, ChunkTokens, IncludeLogits: true, PatternConfig: JobSubmission.DensePatternConfig), ct);
            var result = await client.GetResultAsync(jobId, ct);

            Assert.Contains(devices, d => d.SiloName == "gpu-process" && d.DeviceIndex == device.Ordinal && d.Kind == DeviceDescriptor.CudaKind);
            Assert.All(devices, d => Assert.Equal(DeviceDescriptor.CudaKind, d.Kind));
            Assert.NotNull(result.Logits);
            TestContext.Current.SendDiagnosticMessage($"silo process on GPU: logits relative L2 {RelativeL2(result.Logits, model.ExpectedLogits):E3}");
            AssertClose(result.Logits, model.ExpectedLogits, model.Seed, "job on a standalone GPU silo process vs CPU engine", EngineOnGpuTests.LogitTolerance);
            Assert.Equal($"gpu-process/{device.Ordinal}", Assert.Single(result.Stages).StageKey);
        }
        catch (Exception e) when (e is not Xunit.Sdk.IAssertionException)
        {
            throw new InvalidOperationException($"the job through the silo process failed; the silo's output:\n{silo.Tail()}", e);
        }
        finally
        {
            await clientHost.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// The dotnet host to run the silo with: this process's own when it is one (on the GPU machine the staged
    /// runtime is not on PATH), else DOTNET_ROOT's, else `dotnet` from PATH.
    /// </summary>
    private static string DotnetHost()
    {
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
        {
            return current;
        }

        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        return root is not null && File.Exists(Path.Combine(root, "dotnet")) ? Path.Combine(root, "dotnet") : "dotnet";
    }
}
