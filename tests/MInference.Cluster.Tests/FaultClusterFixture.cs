using Microsoft.Extensions.DependencyInjection;
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
public sealed class FaultClusterFixture() : GeneratedModelClusterFixture("fault", 3)
{
    public const string ModelId = "tiny";

    protected override void ConfigureSilos(TestClusterBuilder builder) => builder.AddSiloBuilderConfigurator<SiloConfigurator>();

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
