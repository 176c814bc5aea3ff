using MInference.Shared.Contracts;
using MInference.Shared.Generation;

namespace MInference.Cluster.Tests;

public sealed class ShardUnloadingTests(ClusterFixture fixture)
{
    /// <summary>
    /// A model's shards stay loaded on its stages after a job while the model is registered (the default
    /// idle timeout is 30 minutes); once the model is unregistered, the stages' sweep unloads exactly
    /// those shards and no others, and the model's directory no longer appears among the loaded shards.
    /// </summary>
    [Fact]
    public async Task Shards_of_an_unregistered_model_are_unloaded_and_others_kept()
    {
        var ct = TestContext.Current.CancellationToken;
        var modelId = "unload-" + Guid.NewGuid().ToString("N")[..8];
        var directory = Path.Combine(Path.GetTempPath(), "minference-" + modelId);
        ModelGenerator.Generate(ModelShapes.Get(ModelShapes.Tiny), directory, ClusterFixture.ModelSeed, cancellationToken: ct);
        try
        {
            await fixture.Client.RegisterModelAsync(modelId, directory, ct);
            var jobId = "unload-job-" + Guid.NewGuid().ToString("N");
            await fixture.Client.SubmitAsync(jobId, new JobSubmission(modelId, TestDocuments.Random(seed: 83, length: 64), ChunkTokens: 32, StageCount: 2), ct);
            var final = await fixture.Client.WatchAsync(jobId, ct).LastAsync(ct);
            var stages = final.StageKeys!.Select(k => fixture.Cluster.Client.GetGrain<IStageGrain>(k)).ToList();

            var whileRegistered = await Task.WhenAll(stages.Select(s => s.UnloadUnusedShardsAsync()));
            var loaded = await Task.WhenAll(stages.Select(s => s.GetStatusAsync()));
            Assert.True(await fixture.Client.UnregisterModelAsync(modelId, ct));
            var afterUnregister = await Task.WhenAll(stages.Select(s => s.UnloadUnusedShardsAsync()));
            var after = await Task.WhenAll(stages.Select(s => s.GetStatusAsync()));

            Assert.Equal(JobState.Completed, final.State);
            Assert.Equal(2, stages.Count);
            Assert.All(whileRegistered, unloaded => Assert.DoesNotContain(unloaded, k => k.StartsWith(directory, StringComparison.Ordinal)));
            Assert.All(loaded, s => Assert.Contains(s.LoadedShards, k => k.StartsWith(directory, StringComparison.Ordinal)));
            Assert.All(afterUnregister, unloaded => Assert.Single(unloaded, k => k.StartsWith(directory, StringComparison.Ordinal)));
            Assert.All(after, s => Assert.DoesNotContain(s.LoadedShards, k => k.StartsWith(directory, StringComparison.Ordinal)));
        }
        finally
        {
            await fixture.Client.UnregisterModelAsync(modelId, CancellationToken.None);
            Directory.Delete(directory, recursive: true);
        }
    }
}

public sealed class ShardUnloadingSettingsTests
{
    /// <summary>Bad shard-unloading settings are refused naming the setting and its value; zero idle timeout (keep idle shards) is valid.</summary>
    [Fact]
    public void Bad_shard_settings_are_named()
    {
        var validator = new MInference.Silo.Grains.ClusterExecutionOptionsValidator();

        var bad = validator.Validate(null, new MInference.Silo.Grains.ClusterExecutionOptions { ShardIdleTimeout = TimeSpan.FromMilliseconds(5), ShardSweepPeriod = TimeSpan.Zero });
        var keep = validator.Validate(null, new MInference.Silo.Grains.ClusterExecutionOptions { ShardIdleTimeout = TimeSpan.Zero });

        Assert.True(keep.Succeeded);
        var failures = bad.Failures!.ToList();
        Assert.Equal(2, failures.Count);
        Assert.Contains(failures, f => f.Contains("MInference:Execution:ShardIdleTimeout is 00:00:00.0050000", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MInference:Execution:ShardSweepPeriod is 00:00:00", StringComparison.Ordinal));
    }
}
