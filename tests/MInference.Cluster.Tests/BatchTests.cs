using MInference.Client;
using MInference.Shared.Contracts;

namespace MInference.Cluster.Tests;

public sealed class BatchTests(ClusterFixture fixture)
{
    /// <summary>
    /// A batch of 5 documents, two of them bad (empty, unknown model), run 2 at a time: every document is
    /// reported once, the good ones with the result the same document gets alone, the bad ones with an
    /// input error naming the problem, and the bad ones do not stop the others.
    /// </summary>
    [Fact]
    public async Task Batch_reports_every_document_and_failures_do_not_stop_the_others()
    {
        var ct = TestContext.Current.CancellationToken;
        var prefix = "batch-" + Guid.NewGuid().ToString("N") + "-";
        var good = Enumerable.Range(0, 3).Select(i => TestDocuments.Random(seed: 200 + i, length: 40)).ToArray();
        List<BatchDocument> documents =
        [
            new(prefix + "0", new JobSubmission(ClusterFixture.ModelId, good[0], ChunkTokens: 16)),
            new(prefix + "empty", new JobSubmission(ClusterFixture.ModelId, [])),
            new(prefix + "1", new JobSubmission(ClusterFixture.ModelId, good[1], ChunkTokens: 16)),
            new(prefix + "unknown", new JobSubmission("no-such-model", good[0])),
            new(prefix + "2", new JobSubmission(ClusterFixture.ModelId, good[2], ChunkTokens: 16)),
        ];
        var alone = new List<JobResult>();
        for (var i = 0; i < good.Length; i++)
        {
            await fixture.Client.SubmitAsync(prefix + "alone-" + i, new JobSubmission(ClusterFixture.ModelId, good[i], ChunkTokens: 16), ct);
            alone.Add(await fixture.Client.GetResultAsync(prefix + "alone-" + i, ct));
        }

        var results = await fixture.Client.SubmitBatchAsync(documents, maxConcurrency: 2, ct).ToListAsync(ct);

        Assert.Equal(documents.Select(d => d.JobId).Order(StringComparer.Ordinal), results.Select(r => r.JobId).Order(StringComparer.Ordinal));
        var byId = results.ToDictionary(r => r.JobId, StringComparer.Ordinal);
        for (var i = 0; i < good.Length; i++)
        {
            var result = byId[prefix + i];
            Assert.True(result.Succeeded, result.Error?.Message);
            Assert.Equal(alone[i].TopTokens, result.Result!.TopTokens);
        }

        Assert.Contains("empty", Assert.IsType<MInferenceInputException>(byId[prefix + "empty"].Error).Message, StringComparison.Ordinal);
        Assert.Contains("no-such-model", Assert.IsType<MInferenceInputException>(byId[prefix + "unknown"].Error).Message, StringComparison.Ordinal);
    }
}
