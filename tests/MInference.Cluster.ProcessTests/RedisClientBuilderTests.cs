using MInference.Client;
using MInference.Shared.Contracts;

namespace MInference.Cluster.ProcessTests;

public sealed class RedisClientBuilderTests
{
    /// <summary>
    /// A client built with <see cref="MInferenceClientBuilder.UseRedisClustering"/>, given only the Redis
    /// connection and the cluster's ids (no gateway address), finds both silo processes' gateways in Redis,
    /// sees both silos' devices and runs a job to completion; the same builder with a cluster id no silo
    /// uses finds no gateway and throws <see cref="ClusterUnavailableException"/>.
    /// </summary>
    [Fact]
    public async Task Client_with_redis_discovery_finds_the_silos_and_runs_a_job()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await ProcessCluster.CreateAsync(siloCount: 2, ct);
        await cluster.StartSilosAsync(ct);
        var jobId = "redis-client-" + Guid.NewGuid().ToString("N");
        var submission = new JobSubmission(ProcessCluster.ModelId, TestDocuments.Random(seed: 811, length: 40), ChunkTokens: 16, StageCount: 2);

        await using var client = await new MInferenceClientBuilder()
            .UseRedisClustering(cluster.Redis.ConnectionString, cluster.ClusterId, cluster.ClusterId)
            .ConnectAsync(ct);
        var devices = await client.GetDevicesAsync(ct);
        await client.SubmitAsync(jobId, submission, ct);
        var result = await client.GetResultAsync(jobId, ct);
        var progress = await client.GetProgressAsync(jobId, ct);
        var stranger = new MInferenceClientBuilder().UseRedisClustering(cluster.Redis.ConnectionString, "no-such-cluster", "no-such-cluster");

        Assert.Equal(["silo0", "silo1"], devices.Select(d => d.SiloName).Order(StringComparer.Ordinal));
        Assert.Equal(JobState.Completed, progress.State);
        Assert.Equal(3, progress.ChunksDone);
        Assert.NotEmpty(result.TopTokens);
        Assert.All(result.TopTokens, t => Assert.True(float.IsFinite(t.Logit), $"token {t.TokenId} has logit {t.Logit}"));
        await Assert.ThrowsAsync<ClusterUnavailableException>(() => stranger.ConnectAsync(ct));
    }

    /// <summary>A Redis connection string that names no endpoint is refused when the builder is configured, before any connection is tried.</summary>
    [Fact]
    public void Redis_connection_string_without_an_endpoint_is_refused()
    {
        var builder = new MInferenceClientBuilder();

        var error = Assert.Throws<ArgumentException>(() => builder.UseRedisClustering("password=secret", "c", "s"));

        Assert.Equal("connectionString", error.ParamName);
        Assert.DoesNotContain("secret", error.Message, StringComparison.Ordinal);
    }
}
