using MInference.Client;
using MInference.Shared.Contracts;

namespace MInference.Cluster.Tests;

public sealed class GenerationTests(ClusterFixture fixture)
{
    private const int ChunkTokens = 32;

    private const int NewTokens = 4;

    /// <summary>
    /// A job that asks for new tokens generates them greedily through a pipeline whose 3 stages sit on
    /// the 3 silos: they are the tokens the single-process engine picks when the document grown by each
    /// picked token is pre-filled again, and the reported top tokens and logits are still the document's
    /// own (the first generated token is its top token).
    /// </summary>
    [Fact]
    public async Task Greedy_tokens_across_three_silos_equal_the_engines()
    {
        var ct = TestContext.Current.CancellationToken;
        var tokens = TestDocuments.Random(seed: 901, length: 70);
        var jobId = "generate-" + Guid.NewGuid().ToString("N");

        await fixture.Client.SubmitAsync(
            jobId, new JobSubmission(ClusterFixture.ThreeLayerModelId, tokens, ChunkTokens, StageCount: 3, IncludeLogits: true, MaxNewTokens: NewTokens), ct);
        var result = await fixture.Client.GetResultAsync(jobId, ct);
        var prefill = ReferenceLogits.Compute(fixture.ThreeLayerModelDirectory, tokens, ChunkTokens, ct);
        var expected = new List<int>();
        var grown = tokens.ToList();
        for (var step = 0; step < NewTokens; step++)
        {
            var logits = step == 0 ? prefill : ReferenceLogits.Compute(fixture.ThreeLayerModelDirectory, [.. grown], ChunkTokens, ct);
            var next = logits.Select((l, i) => (l, i)).OrderByDescending(t => t.l).ThenBy(t => t.i).First().i;
            expected.Add(next);
            grown.Add(next);
        }

        Assert.Equal(3, result.Stages.Count);
        Assert.Equal(expected, result.GeneratedTokenIds);
        Assert.Equal(expected[0], result.TopTokens[0].TokenId);
        ReferenceLogits.AssertClose(prefill, result.Logits);
    }

    /// <summary>A request for more new tokens than the limit, or for a document that would outgrow the silo's maximum, is a typed input error.</summary>
    [Fact]
    public async Task Too_many_new_tokens_are_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        var tokens = TestDocuments.Random(seed: 902, length: 16);

        var overLimit = await Assert.ThrowsAsync<MInferenceInputException>(() => fixture.Client.SubmitAsync(
            "generate-limit-" + Guid.NewGuid().ToString("N"), new JobSubmission(ClusterFixture.ModelId, tokens, MaxNewTokens: JobSubmission.MaxNewTokensLimit + 1), ct));
        var overDocument = await Assert.ThrowsAsync<MInferenceInputException>(() => fixture.Client.SubmitAsync(
            "generate-long-" + Guid.NewGuid().ToString("N"), new JobSubmission(ClusterFixture.ModelId, tokens, MaxNewTokens: ClusterFixture.MaxDocumentTokens), ct));

        Assert.Contains("MaxNewTokens 4097", overLimit.Message, StringComparison.Ordinal);
        Assert.Contains("MaxDocumentTokens", overDocument.Message, StringComparison.Ordinal);
    }
}
