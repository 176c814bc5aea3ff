using System.Globalization;
using MInference.Shared.Contracts;
using MInference.Shared.Generation;
using MInference.Shared.Networking;
using MInference.Shared.Patterns;

namespace MInference.Cluster.ProcessTests;

public sealed class RedisClusterRestartTests
{
    /// <summary>A model id only the test's client registers.</summary>
    private const string ClientModelId = "client-tiny";

    /// <summary>
    /// Two standalone silo processes with Redis clustering and job storage run a job submitted by a
    /// separate client; after both processes are killed and started again (same names and ports), a
    /// new client still finds the job completed, with the same result. A model the client registered
    /// (not in the silos' settings, so nobody registers it again) and its pattern config survive the
    /// restart in Redis, and the restarted cluster runs a new job on that model. Started with
    /// <c>DashboardEnabled</c>, silo0 serves the Orleans dashboard's page on its dashboard port.
    /// </summary>
    [Fact]
    public async Task Job_submitted_before_a_full_cluster_restart_is_still_queryable()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await ProcessCluster.CreateAsync(siloCount: 2, ct);
        var dashboardPort = LoopbackPorts.TakeFree(1)[0];
        await Task.WhenAll(
            cluster.StartSilosAsync(["--MInference:DashboardEnabled=true", string.Create(CultureInfo.InvariantCulture, $"--MInference:DashboardPort={dashboardPort}")], ct, "silo0"),
            cluster.StartSilosAsync(ct, "silo1"));
        // The silo logs its ready marker before the web host (the dashboard) starts listening.
        await cluster.Running("silo0").WaitForLineAsync("Now listening on", TimeSpan.FromMinutes(1), ct);
        using var http = new HttpClient();
        using var dashboard = await http.GetAsync(new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{dashboardPort}/")), ct);
        var dashboardPage = await dashboard.Content.ReadAsStringAsync(ct);
        var jobId = "restart-" + Guid.NewGuid().ToString("N");
        var submission = new JobSubmission(ProcessCluster.ModelId, TestDocuments.Random(seed: 601, length: 48), ChunkTokens: 16);
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        var patterns = PatternConfigJson.Serialize(PatternConfig.Uniform(spec.LayerCount, spec.QueryHeadCount, HeadPattern.AShape(8, 16)));

        var client = await cluster.ConnectClientAsync(ct);
        var devices = await client.GetDevicesAsync(ct);
        var registered = await client.RegisterModelAsync(ClientModelId, cluster.ModelDirectory, ct);
        await client.PutPatternConfigAsync(ClientModelId, patterns, ct);
        await client.SubmitAsync(jobId, submission, ct);
        var before = await client.GetResultAsync(jobId, ct);

        await cluster.KillAllSilosAsync();
        await cluster.StartSilosAsync(ct);
        var after = await cluster.ConnectClientAsync(ct);
        var progress = await after.GetProgressAsync(jobId, ct);
        var result = await after.GetResultAsync(jobId, ct);
        var resubmitted = await after.SubmitAsync(jobId, submission, ct);
        var models = await after.GetModelsAsync(ct);
        var storedPatterns = await after.GetPatternConfigAsync(ClientModelId, ct);
        var secondJob = "after-restart-" + Guid.NewGuid().ToString("N");
        await after.SubmitAsync(secondJob, submission with { ModelId = ClientModelId, TokenIds = TestDocuments.Random(seed: 607, length: 32) }, ct);
        var second = await after.GetResultAsync(secondJob, ct);

        Assert.True(dashboard.IsSuccessStatusCode, $"the dashboard answered {(int)dashboard.StatusCode} {dashboard.ReasonPhrase}");
        Assert.Contains("<html", dashboardPage, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(["silo0", "silo1"], devices.Select(d => d.SiloName).Order(StringComparer.Ordinal));
        Assert.Equal(JobState.Completed, progress.State);
        Assert.Equal(3, progress.ChunksDone);
        Assert.Equal(before.TopTokens, result.TopTokens);
        Assert.Equal(before.Timings.RunMilliseconds, result.Timings.RunMilliseconds);
        Assert.Equal(JobState.Completed, resubmitted.State);
        Assert.Contains(registered, models);
        Assert.Equal(patterns, storedPatterns);
        Assert.NotEmpty(second.TopTokens);
        Assert.All(second.TopTokens, t => Assert.True(float.IsFinite(t.Logit), $"token {t.TokenId} has logit {t.Logit}"));
    }
}
