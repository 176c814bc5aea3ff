using MInference.Client;
using MInference.Shared.Generation;
using Orleans.TestingHost;

namespace MInference.Cluster.Tests;

/// <summary>
/// What the in-process cluster fixtures share: a temporary folder with the generated <c>tiny</c> model and
/// its 3-layer variant, a <see cref="TestCluster"/> of the derived fixture's silos, a client on it, and
/// the <c>tiny</c> model registered as "tiny"; on dispose the silos stop and the folder is deleted.
/// </summary>
public abstract class GeneratedModelClusterFixture(string name, short siloCount) : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"minference-{name}-tests-" + Guid.NewGuid().ToString("N"));

    public TestCluster Cluster { get; private set; } = null!;

    public MInferenceClient Client { get; private set; } = null!;

    public string ModelDirectory => Path.Combine(_root, "tiny");

    public string ThreeLayerModelDirectory => Path.Combine(_root, "tiny-3-layers");

    public async ValueTask InitializeAsync()
    {
        ModelGenerator.Generate(ModelShapes.Get(ModelShapes.Tiny), ModelDirectory, ClusterFixture.ModelSeed);
        ModelGenerator.Generate(ModelShapes.Get(ModelShapes.Tiny) with { LayerCount = 3 }, ThreeLayerModelDirectory, ClusterFixture.ModelSeed);
        var builder = new TestClusterBuilder(siloCount);
        ConfigureSilos(builder);
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        Client = new MInferenceClient(Cluster.Client);
        await Client.RegisterModelAsync("tiny", ModelDirectory);
        await RegisterMoreModelsAsync(Client);
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        Directory.Delete(_root, recursive: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Adds the fixture's silo configurator (AddSiloBuilderConfigurator) to <paramref name="builder"/>.</summary>
    protected abstract void ConfigureSilos(TestClusterBuilder builder);

    /// <summary>Registers the models beyond "tiny" that the fixture's tests expect; none by default.</summary>
    protected virtual Task RegisterMoreModelsAsync(MInferenceClient client) => Task.CompletedTask;
}
