using Microsoft.Extensions.DependencyInjection;
using MInference.Client;
using MInference.Silo.Grains;
using MInference.Silo.Hosting;
using Orleans.TestingHost;

[assembly: AssemblyFixture(typeof(MInference.Cluster.Tests.ClusterFixture))]

namespace MInference.Cluster.Tests;

/// <summary>
/// An in-process cluster of 3 silos with 1 single-threaded CPU device each (so every multi-stage plan
/// spans silos and its hidden states go through the TCP data plane), the generated <c>tiny</c> model
/// registered as <see cref="ModelId"/> and a 3-layer variant of it as <see cref="ThreeLayerModelId"/>
/// (one layer per silo).
/// </summary>
public sealed class ClusterFixture() : GeneratedModelClusterFixture("cluster", SiloCount)
{
    public const string ModelId = "tiny";

    public const string ThreeLayerModelId = "tiny-3-layers";

    public const ulong ModelSeed = 20261123;

    public const int SiloCount = 3;

    public const int DevicesPerSilo = 1;

    /// <summary>The silos' MInference:MaxDocumentTokens, small so a test can exceed it cheaply.</summary>
    public const int MaxDocumentTokens = 4096;

    protected override void ConfigureSilos(TestClusterBuilder builder) => builder.AddSiloBuilderConfigurator<SiloConfigurator>();

    protected override Task RegisterMoreModelsAsync(MInferenceClient client) => client.RegisterModelAsync(ThreeLayerModelId, ThreeLayerModelDirectory);

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder.AddMInference(configure: o =>
            {
                o.CpuDevices = DevicesPerSilo;
                o.CpuThreadsPerDevice = 1;
                o.MaxDocumentTokens = MaxDocumentTokens;
            });
            siloBuilder.Services.AddSingleton<IJobChunkGate>(TestChunkGate.Instance);
        }
    }
}
