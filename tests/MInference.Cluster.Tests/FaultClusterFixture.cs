using Microsoft.Extensions.DependencyInjection;
using MInference.Client;
using MInference.Shared.Generation;
using MInference.Silo.Grains;
using MInference.Silo.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;

namespace MInference.Cluster.Tests;

/// <summary>
/// A cluster of its own for tests that break things (stop a silo, corrupt transfers): 3 silos with 1 CPU
/// device each, job state in <see cref="SharedTestGrainStorage"/> (it survives a silo, as Redis does),
/// jobs held by <see cref="HoldingChunkGate"/>, the <c>tiny</c> model registered as <see cref="ModelId"/>.
/// </summary>
public sealed class FaultClusterFixture : IAsyncLifetime
{
    public const string ModelId = "tiny";

    private readonly string _root = Path.Combine(Path.GetTempPath(), "minference-fault-tests-" + Guid.NewGuid().ToString("N"));

    public TestCluster Cluster { get; private set; } = null!;

    public MInferenceClient Client { get; private set; } = null!;

    public string ModelDirectory => Path.Combine(_root, "tiny");

    public async ValueTask InitializeAsync()
    {
        ModelGenerator.Generate(ModelShapes.Get(ModelShapes.Tiny), ModelDirectory, ClusterFixture.ModelSeed);
        var builder = new TestClusterBuilder(3);
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Client = new MInferenceClient(Cluster.Client);
        await Client.RegisterModelAsync(ModelId, ModelDirectory);
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.AddMInference(configure: o =>
            {
                o.CpuDevices = 1;
                o.CpuThreadsPerDevice = 1;
            });
            siloBuilder.Services.AddSingleton<IJobChunkGate>(HoldingChunkGate.Instance);
            siloBuilder.Services.AddKeyedSingleton<IGrainStorage>(
                MInferenceSiloBuilderExtensions.JobStorageName, (sp, _) => new SharedTestGrainStorage(sp.GetRequiredService<DeepCopier>()));
        }
    }
}
