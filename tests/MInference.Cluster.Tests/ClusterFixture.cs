using Microsoft.Extensions.DependencyInjection;
using MInference.Client;
using MInference.Shared.Generation;
using MInference.Silo.Grains;
using MInference.Silo.Hosting;
using Orleans.TestingHost;

[assembly: AssemblyFixture(typeof(MInference.Cluster.Tests.ClusterFixture))]

namespace MInference.Cluster.Tests;

/// <summary>
/// An in-process cluster of 2 silos with 2 single-threaded CPU devices each, and the generated
/// <c>tiny</c> model registered as <see cref="ModelId"/>.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const string ModelId = "tiny";

    public const ulong ModelSeed = 20261123;

    public const int DevicesPerSilo = 2;

    private readonly string _root = Path.Combine(Path.GetTempPath(), "minference-cluster-tests-" + Guid.NewGuid().ToString("N"));

    public TestCluster Cluster { get; private set; } = null!;

    public MInferenceClient Client { get; private set; } = null!;

    public string ModelDirectory => Path.Combine(_root, "tiny");

    public async ValueTask InitializeAsync()
    {
        ModelGenerator.Generate(ModelShapes.Get(ModelShapes.Tiny), ModelDirectory, ModelSeed);
        var builder = new TestClusterBuilder(2);
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
                o.CpuDevices = DevicesPerSilo;
                o.CpuThreadsPerDevice = 1;
            });
            siloBuilder.Services.AddSingleton<IJobChunkGate>(TestChunkGate.Instance);
        }
    }
}
