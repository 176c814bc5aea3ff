using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MInference.Silo.Grains;
using MInference.Silo.Hosting;
using Orleans.TestingHost;

namespace MInference.Cluster.Tests;

/// <summary>
/// One silo for control-plane tests that would disturb the shared cluster (deactivating the coordinator,
/// stalling jobs): a short watchdog (<see cref="ProgressTimeout"/>, checked every second), at most
/// <see cref="MaxJobAttempts"/> attempts, jobs stalled by <see cref="StallingChunkGate"/>, in-memory
/// registry storage and reminders (the embedded defaults), and the generated <c>tiny</c> model.
/// </summary>
public sealed class ControlPlaneClusterFixture() : GeneratedModelClusterFixture("control-plane", 1)
{
    public const string ModelId = "tiny";

    public const int MaxJobAttempts = 2;

    /// <summary>Long enough that a tiny model's chunk on a busy machine never looks stalled.</summary>
    public static readonly TimeSpan ProgressTimeout = TimeSpan.FromSeconds(2);

    /// <summary>A service of the (only) silo.</summary>
    public T SiloService<T>()
        where T : notnull
        => ((InProcessSiloHandle)Cluster.Primary!).SiloHost.Services.GetRequiredService<T>();

    /// <summary>What the silo logged (one silo per fixture, so one recorder for the process is enough).</summary>
    public static RecordingLoggerProvider Logs { get; } = new();

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
            siloBuilder.Services.Configure<ClusterExecutionOptions>(o =>
            {
                o.JobProgressTimeout = ProgressTimeout;
                o.WatchdogPeriod = TimeSpan.FromSeconds(1);
                o.MaxJobAttempts = MaxJobAttempts;
            });
            siloBuilder.Services.AddSingleton<IJobChunkGate>(StallingChunkGate.Instance);
            siloBuilder.Services.AddSingleton<ILoggerProvider>(Logs);
        }
    }
}

/// <summary>The classes that share <see cref="ControlPlaneClusterFixture"/> (they run one after another).</summary>
[CollectionDefinition(Name)]
public sealed class ControlPlaneCollection : ICollectionFixture<ControlPlaneClusterFixture>
{
    public const string Name = "control-plane";
}
