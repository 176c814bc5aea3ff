namespace MInference.Engine.Tests;

public sealed class ChunkedPrefillTests
{
    /// <summary>
    /// Pre-filling a prompt in spans (equal, ragged, single-token) gives the same last-position logits
    /// and the same K/V cache contents in every layer as pre-filling it in one span, for a Llama shape
    /// and a Qwen2 shape with q/k/v biases and tied embeddings.
    /// </summary>
    [Theory]
    [InlineData(false, new[] { 150 }, new[] { 64, 64, 22 })]
    [InlineData(false, new[] { 150 }, new[] { 5, 70, 1, 74 })]
    [InlineData(true, new[] { 150 }, new[] { 37, 37, 37, 39 })]
    [InlineData(true, new[] { 40 }, new[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 30 })]
    public void Chunked_prefill_equals_one_span(bool qwen, int[] total, int[] spans)
    {
        var spec = EngineTestKit.Spec(attentionBias: qwen, tied: qwen, headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 42);
        using var backend = EngineTestKit.Backend();
        var runner = EngineTestKit.Runner(weights, backend);
        var tokens = EngineTestKit.RandomTokens(new Random(total[0] + spans.Length), total[0], spec.VocabSize);
        Assert.Equal(total[0], spans.Sum());

        var whole = runner.CreateSequence(total[0] + 8);
        var expectedLogits = runner.RunSpan(whole, tokens, cancellationToken: TestContext.Current.CancellationToken);

        var chunked = runner.CreateSequence(total[0] + 8);
        float[]? logits = null;
        var start = 0;
        foreach (var span in spans)
        {
            logits = runner.RunSpan(chunked, tokens.AsSpan(start, span), cancellationToken: TestContext.Current.CancellationToken);
            start += span;
        }

        EngineTestKit.AssertClose(expectedLogits, logits!, "last-position logits");
        Assert.Equal(total[0], chunked[0].Length);
        for (var layer = 0; layer < spec.LayerCount; layer++)
        {
            EngineTestKit.AssertClose(
                EngineTestKit.Download(backend, whole[0].KeyCache(layer), total[0]),
                EngineTestKit.Download(backend, chunked[0].KeyCache(layer), total[0]),
                $"layer {layer} K cache");
            EngineTestKit.AssertClose(
                EngineTestKit.Download(backend, whole[0].ValueCache(layer), total[0]),
                EngineTestKit.Download(backend, chunked[0].ValueCache(layer), total[0]),
                $"layer {layer} V cache");
        }
    }

    /// <summary>The runner's Prefill in chunks reports progress per chunk and matches one span.</summary>
    [Fact]
    public void Prefill_reports_progress_and_matches_one_span()
    {
        var spec = EngineTestKit.Spec();
        using var weights = new RandomModelWeights(spec, seed: 3);
        using var backend = EngineTestKit.Backend();
        var runner = EngineTestKit.Runner(weights, backend);
        var tokens = EngineTestKit.RandomTokens(new Random(9), 100, spec.VocabSize);
        var reported = new List<long>();

        var chunked = runner.Prefill(runner.CreateSequence(100), tokens, chunkTokens: 30, new SynchronousProgress(reported), cancellationToken: TestContext.Current.CancellationToken);
        var whole = runner.RunSpan(runner.CreateSequence(100), tokens, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal([30L, 60, 90, 100], reported);
        EngineTestKit.AssertClose(whole, chunked, "logits");
    }

    /// <summary>Running the MLP in token chunks (of 7, 16 rows) equals running it on the whole span at once.</summary>
    [Theory]
    [InlineData(7)]
    [InlineData(16)]
    public void Mlp_token_chunking_does_not_change_results(int mlpChunkTokens)
    {
        var spec = EngineTestKit.Spec();
        using var weights = new RandomModelWeights(spec, seed: 5);
        using var backend = EngineTestKit.Backend();
        var tokens = EngineTestKit.RandomTokens(new Random(6), 61, spec.VocabSize);
        var reference = EngineTestKit.Runner(weights, backend);
        var chunked = EngineTestKit.Runner(weights, backend, new ModelShardOptions { MlpChunkTokens = mlpChunkTokens });

        var expected = reference.RunSpan(reference.CreateSequence(61), tokens, cancellationToken: TestContext.Current.CancellationToken);
        var actual = chunked.RunSpan(chunked.CreateSequence(61), tokens, cancellationToken: TestContext.Current.CancellationToken);

        EngineTestKit.AssertClose(expected, actual, "logits");
    }

    private sealed class SynchronousProgress(List<long> reports) : IProgress<long>
    {
        public void Report(long value) => reports.Add(value);
    }
}
