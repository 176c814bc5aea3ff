using MInference.Shared.Contracts;

namespace MInference.Cluster.Tests;

public sealed class ConcurrentJobsTests(ClusterFixture fixture)
{
    private const int JobCount = 20;

    /// <summary>
    /// 20 jobs submitted at once (1- and 2-stage plans sharing devices) all complete, each with the
    /// same top token as the same document run alone, and no stage keeps any of their KV caches.
    /// </summary>
    [Fact]
    public async Task Twenty_concurrent_jobs_all_complete()
    {
        var ct = TestContext.Current.CancellationToken;
        var documents = Enumerable.Range(0, 4).Select(i => TestDocuments.Random(seed: 100 + i, length: 48)).ToArray();
        var prefix = "concurrent-" + Guid.NewGuid().ToString("N") + "-";
        var alone = new List<JobResult>();
        for (var d = 0; d < documents.Length; d++)
        {
            await fixture.Client.SubmitAsync(prefix + "alone-" + d, new JobSubmission(ClusterFixture.ModelId, documents[d], ChunkTokens: 16), ct);
            alone.Add(await fixture.Client.GetResultAsync(prefix + "alone-" + d, ct));
        }

        var results = await Task.WhenAll(Enumerable.Range(0, JobCount).Select(async i =>
        {
            var id = prefix + i;
            await fixture.Client.SubmitAsync(id, new JobSubmission(ClusterFixture.ModelId, documents[i % documents.Length], ChunkTokens: 16, StageCount: 1 + (i % 2)), ct);
            return await fixture.Client.GetResultAsync(id, ct);
        }));

        for (var i = 0; i < JobCount; i++)
        {
            Assert.Equal(alone[i % documents.Length].TopTokens[0].TokenId, results[i].TopTokens[0].TokenId);
            Assert.Equal(1 + (i % 2), results[i].Stages.Count);
        }

        var stageKeys = results.SelectMany(r => r.Stages).Select(s => s.StageKey).Distinct();
        foreach (var key in stageKeys)
        {
            var status = await fixture.Cluster.Client.GetGrain<IStageGrain>(key).GetStatusAsync();
            Assert.DoesNotContain(status.OpenJobs, j => j.StartsWith(prefix, StringComparison.Ordinal));
        }
    }
}
