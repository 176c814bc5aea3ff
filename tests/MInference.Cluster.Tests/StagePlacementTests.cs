using MInference.Shared.Contracts;

namespace MInference.Cluster.Tests;

public sealed class StagePlacementTests(ClusterFixture fixture)
{
    /// <summary>
    /// A stage keyed by each silo activates on that silo (the grain itself refuses any other silo), and
    /// a stage keyed by a silo that is not in the cluster is not placed anywhere.
    /// </summary>
    [Fact]
    public async Task Stage_is_placed_on_its_silo_or_nowhere()
    {
        foreach (var silo in fixture.Cluster.Silos)
        {
            var key = StageKeys.Format(silo.Name, 0);
            var status = await fixture.Cluster.Client.GetGrain<IStageGrain>(key).GetStatusAsync();
            Assert.Equal(key, status.StageKey);
        }

        var missing = fixture.Cluster.Client.GetGrain<IStageGrain>(StageKeys.Format("no-such-silo", 0));
        var error = await Assert.ThrowsAnyAsync<Exception>(missing.GetStatusAsync);

        Assert.IsType<SiloUnavailableException>(error, exactMatch: false);
        Assert.Contains("no-such-silo", error.Message, StringComparison.Ordinal);
    }
}
