using MInference.Client;
using MInference.Shared.Contracts;
using MInference.Shared.Generation;
using MInference.Shared.Patterns;

namespace MInference.Cluster.Tests;

[Collection(ControlPlaneCollection.Name)]
public sealed class CoordinatorRegistryTests(ControlPlaneClusterFixture cluster)
{
    /// <summary>The coordinator's "restored N registered model(s)" event, logged by each activation that found a stored registry.</summary>
    private const int RestoredEventId = 4400;

    /// <summary>
    /// A model a client registered, its pattern config and the silo's devices are still known after the
    /// coordinator's activation is deactivated: the next call meets a new activation (it logs what it
    /// restored), which reads them back from grain storage. Without persistence it would know none of them.
    /// </summary>
    [Fact]
    public async Task Registered_models_and_pattern_configs_survive_the_coordinators_deactivation()
    {
        var ct = TestContext.Current.CancellationToken;
        var modelId = "persisted-" + Guid.NewGuid().ToString("N")[..8];
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        var patterns = PatternConfigJson.Serialize(PatternConfig.Uniform(3, spec.QueryHeadCount, HeadPattern.AShape(16, 48)));
        var coordinator = cluster.Cluster.Client.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);
        var management = cluster.Cluster.Client.GetGrain<IManagementGrain>(0);
        var activationsBefore = ControlPlaneClusterFixture.Logs.Messages(RestoredEventId).Count;

        var registered = await cluster.Client.RegisterModelAsync(modelId, cluster.ThreeLayerModelDirectory, ct);
        await cluster.Client.PutPatternConfigAsync(modelId, patterns, ct);
        await management.DeactivateGrain(coordinator.GetGrainId(), ct);
        var models = await cluster.Client.GetModelsAsync(ct);
        var storedPatterns = await cluster.Client.GetPatternConfigAsync(modelId, ct);
        var restored = ControlPlaneClusterFixture.Logs.Messages(RestoredEventId);

        Assert.Equal(activationsBefore + 1, restored.Count);
        Assert.Contains("the devices of 1 silo(s)", restored[^1], StringComparison.Ordinal);
        Assert.Contains(registered, models);
        Assert.Equal(3, registered.LayerCount);
        Assert.Equal(patterns, storedPatterns);
    }

    /// <summary>
    /// Registration validates what it stores: a model id with a space or over 128 characters, and a
    /// directory without a model config, are typed input errors naming the problem, and none of them
    /// reaches the registry.
    /// </summary>
    [Fact]
    public async Task Bad_registrations_are_refused_and_not_stored()
    {
        var ct = TestContext.Current.CancellationToken;
        var missing = Path.Combine(Path.GetTempPath(), "no-model-" + Guid.NewGuid().ToString("N"));
        var longId = new string('m', 129);

        var spaced = await Assert.ThrowsAsync<MInferenceInputException>(() => cluster.Client.RegisterModelAsync("bad id", cluster.ModelDirectory, ct));
        var tooLong = await Assert.ThrowsAsync<MInferenceInputException>(() => cluster.Client.RegisterModelAsync(longId, cluster.ModelDirectory, ct));
        var unreadable = await Assert.ThrowsAsync<MInferenceInputException>(() => cluster.Client.RegisterModelAsync("unreadable", missing, ct));
        var models = await cluster.Client.GetModelsAsync(ct);

        Assert.Contains("'bad id'", spaced.Message, StringComparison.Ordinal);
        Assert.Contains("129 characters", tooLong.Message, StringComparison.Ordinal);
        Assert.Contains(missing, unreadable.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(models, m => m.ModelId is "bad id" or "unreadable" || m.ModelId == longId);
    }

    /// <summary>
    /// A model registered again with another layer count loses the stored pattern config it no longer
    /// fits; unregistering removes the model and its config, and a second unregistration reports false.
    /// </summary>
    [Fact]
    public async Task Reregistering_with_another_shape_drops_the_config_and_unregistering_forgets_the_model()
    {
        var ct = TestContext.Current.CancellationToken;
        var modelId = "reshaped-" + Guid.NewGuid().ToString("N")[..8];
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        var patterns = PatternConfigJson.Serialize(PatternConfig.Uniform(spec.LayerCount, spec.QueryHeadCount, HeadPattern.AShape(16, 48)));

        await cluster.Client.RegisterModelAsync(modelId, cluster.ModelDirectory, ct);
        await cluster.Client.PutPatternConfigAsync(modelId, patterns, ct);
        await cluster.Client.RegisterModelAsync(modelId, cluster.ModelDirectory, ct);
        var keptOnSameShape = await cluster.Client.GetPatternConfigAsync(modelId, ct);
        await cluster.Client.RegisterModelAsync(modelId, cluster.ThreeLayerModelDirectory, ct);
        var afterReshape = await cluster.Client.GetPatternConfigAsync(modelId, ct);
        var removed = await cluster.Client.UnregisterModelAsync(modelId, ct);
        var removedAgain = await cluster.Client.UnregisterModelAsync(modelId, ct);
        var models = await cluster.Client.GetModelsAsync(ct);

        Assert.Equal(patterns, keptOnSameShape);
        Assert.Null(afterReshape);
        Assert.True(removed);
        Assert.False(removedAgain);
        Assert.DoesNotContain(models, m => m.ModelId == modelId);
        await Assert.ThrowsAsync<MInferenceInputException>(() => cluster.Client.PutPatternConfigAsync(modelId, patterns, ct));
    }
}
