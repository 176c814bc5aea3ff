using MInference.Shared.Contracts;

namespace MInference.Cluster.Tests;

public sealed class PlanningTests(ClusterFixture fixture)
{
    /// <summary>A target length whose KV caches exceed every device's memory fails with PlanDoesNotFitException through the grain call.</summary>
    [Fact]
    public async Task Plan_that_does_not_fit_names_the_exception()
    {
        var coordinator = fixture.Cluster.Client.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);

        var error = await Assert.ThrowsAsync<PlanDoesNotFitException>(() => coordinator.GetPlanAsync(new PlanRequest(ClusterFixture.ModelId, 1L << 32, 1024)));

        Assert.True(error.RequiredBytes > error.AvailableBytes, $"required {error.RequiredBytes} vs available {error.AvailableBytes}");
    }

    /// <summary>Without a forced depth the tiny model fits one device: one stage over all layers.</summary>
    [Fact]
    public async Task Small_model_plans_onto_one_device()
    {
        var coordinator = fixture.Cluster.Client.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);

        var plan = await coordinator.GetPlanAsync(new PlanRequest(ClusterFixture.ModelId, 4096, 1024));

        var stage = Assert.Single(plan.Stages);
        Assert.Equal(0, stage.FirstLayer);
        Assert.Equal(2, stage.EndLayer);
        Assert.True(stage.PlannedBytes <= stage.DeviceMemoryBytes);
    }

    /// <summary>Every silo registered its configured devices with the coordinator on start.</summary>
    [Fact]
    public async Task Silos_register_their_devices()
    {
        var devices = await fixture.Client.GetDevicesAsync(TestContext.Current.CancellationToken);

        Assert.Equal(fixture.Cluster.Silos.Count * ClusterFixture.DevicesPerSilo, devices.Count);
        Assert.Equal(
            fixture.Cluster.Silos.Select(s => s.Name).Order(StringComparer.Ordinal),
            devices.Select(d => d.SiloName).Distinct().Order(StringComparer.Ordinal));
    }
}
