using MInference.Client;
using MInference.Shared.Contracts;
using MInference.Shared.Tokenization;

namespace MInference.Cluster.Tests;

public sealed class TextSubmissionTests(ClusterFixture fixture)
{
    private const string Document = "The silo tokenizes this document with the model's own tokenizer before it is pre-filled. ";

    /// <summary>
    /// A document submitted as text gives exactly the result of the same text tokenized by the client and
    /// submitted as ids (same top tokens and logits, same generated tokens), and the generated tokens come
    /// back decoded when every id has text (null otherwise, as generated models pad their embedding).
    /// </summary>
    [Fact]
    public async Task Text_submission_equals_the_client_tokenized_ids()
    {
        var ct = TestContext.Current.CancellationToken;
        var text = string.Concat(Enumerable.Repeat(Document, 2));
        var ids = TokenizerLoader.Load(fixture.ModelDirectory).Encode(text);
        var asText = "text-" + Guid.NewGuid().ToString("N");
        var asIds = "text-ids-" + Guid.NewGuid().ToString("N");

        await fixture.Client.SubmitAsync(asText, JobSubmission.FromText(ClusterFixture.ModelId, text) with { ChunkTokens = 64, IncludeLogits = true, MaxNewTokens = 3 }, ct);
        await fixture.Client.SubmitAsync(asIds, new JobSubmission(ClusterFixture.ModelId, ids, ChunkTokens: 64, IncludeLogits: true, MaxNewTokens: 3), ct);
        var fromText = await fixture.Client.GetResultAsync(asText, ct);
        var fromIds = await fixture.Client.GetResultAsync(asIds, ct);

        Assert.True(ids.Length > 64, $"the document should span several chunks, it has {ids.Length} tokens");
        Assert.Equal(fromIds.TopTokens, fromText.TopTokens);
        Assert.Equal(fromIds.Logits, fromText.Logits);
        Assert.Equal(fromIds.GeneratedTokenIds, fromText.GeneratedTokenIds);
        var tokenizer = TokenizerLoader.Load(fixture.ModelDirectory);
        var expectedText = fromText.GeneratedTokenIds!.All(id => id < tokenizer.VocabularySize) ? tokenizer.Decode([.. fromText.GeneratedTokenIds!]) : null;
        Assert.Equal(expectedText, fromText.GeneratedText);
    }

    /// <summary>Text together with token ids, or empty text, is a typed input error naming the problem.</summary>
    [Fact]
    public async Task Text_with_ids_or_empty_text_is_refused()
    {
        var ct = TestContext.Current.CancellationToken;

        var both = await Assert.ThrowsAsync<MInferenceInputException>(() => fixture.Client.SubmitAsync(
            "text-both-" + Guid.NewGuid().ToString("N"), new JobSubmission(ClusterFixture.ModelId, [1, 2, 3], Text: "abc"), ct));
        var empty = await Assert.ThrowsAsync<MInferenceInputException>(() => fixture.Client.SubmitAsync(
            "text-empty-" + Guid.NewGuid().ToString("N"), JobSubmission.FromText(ClusterFixture.ModelId, string.Empty), ct));

        Assert.Contains("both Text and 3 TokenIds", both.Message, StringComparison.Ordinal);
        Assert.Contains("Text has no characters", empty.Message, StringComparison.Ordinal);
    }
}
