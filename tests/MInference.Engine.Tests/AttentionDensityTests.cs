using MInference.Kernels.Sparse;
using MInference.Shared.Contracts;
using MInference.Shared.Patterns;

namespace MInference.Engine.Tests;

public sealed class AttentionDensityTests
{
    private const int PromptTokens = 300;

    /// <summary>
    /// A config with an A-shape layer, a VS layer and a dense layer, pre-filled in chunks: the sequence
    /// reports per layer the pairs attention computed, measured from the CPU backend's indices. The
    /// A-shape layer's count equals the exact formula (sum over positions of min(p + 1, n_init + n_local),
    /// per head), the dense layer's equals the causal pairs, the VS layer's lies strictly between zero and
    /// causal and within its budget bound; whole-prompt and chunked runs count the static layers alike.
    /// </summary>
    [Fact]
    public void Sequence_reports_measured_density_per_layer()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 41);
        using var backend = EngineTestKit.Backend();
        var heads = spec.QueryHeadCount;
        var config = new PatternConfig(
            spec.LayerCount,
            heads,
            [.. Enumerable.Repeat(HeadPattern.AShape(4, 28), heads), .. Enumerable.Repeat(HeadPattern.VerticalSlash(30, 50), heads), .. Enumerable.Repeat(HeadPattern.Dense, heads)]);
        var tokens = EngineTestKit.RandomTokens(new Random(4), PromptTokens, spec.VocabSize);

        var chunked = Density(weights, backend, config, tokens, [128, 100, 72]);
        var whole = Density(weights, backend, config, tokens, [PromptTokens]);

        var causal = heads * SpanAttentionCost.CappedPairs(0, PromptTokens, long.MaxValue);
        Assert.Equal(heads * SpanAttentionCost.CappedPairs(0, PromptTokens, 32), chunked[0].CoveredPairs);
        Assert.Equal(causal, chunked[0].CausalPairs);
        Assert.Equal(heads, chunked[0].SparseHeads);
        Assert.InRange(chunked[1].CoveredPairs, 1, causal - 1);
        Assert.True(
            chunked[1].CoveredPairs <= heads * (SpanAttentionCost.PlannedPairs(HeadPattern.VerticalSlash(30, 50), 0, 128)
                + SpanAttentionCost.PlannedPairs(HeadPattern.VerticalSlash(30, 50), 128, 100) + SpanAttentionCost.PlannedPairs(HeadPattern.VerticalSlash(30, 50), 228, 72)),
            $"VS layer computed {chunked[1].CoveredPairs} pairs, above its budget bound");
        Assert.Equal(causal, chunked[2].CoveredPairs);
        Assert.Equal(0, chunked[2].SparseHeads);
        Assert.All(chunked, layer => Assert.True(layer.Measured, $"{layer} not measured"));
        Assert.Equal([0, 1, 2], chunked.Select(l => l.Layer));
        Assert.Equal(whole[0], chunked[0]);
        Assert.Equal(whole[2], chunked[2]);
    }

    /// <summary>Without a config every layer is dense: density exactly 1, no sparse heads; each span's result carries its own per-layer counts.</summary>
    [Fact]
    public void Dense_run_reports_full_density_per_span_and_sequence()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 42);
        using var backend = EngineTestKit.Backend();
        using var shard = ModelShard.Load(weights, new LayerRange(0, spec.LayerCount), backend, cancellationToken: TestContext.Current.CancellationToken);
        using var sequence = shard.CreateSequence(200);
        var tokens = EngineTestKit.RandomTokens(new Random(6), 200, spec.VocabSize);

        using (var first = shard.RunSpan(sequence, tokens.AsSpan(0, 120), TestContext.Current.CancellationToken))
        {
            Assert.Equal(spec.LayerCount, first.AttentionDensity.Count);
            Assert.All(first.AttentionDensity, l => Assert.Equal(spec.QueryHeadCount * SpanAttentionCost.CappedPairs(0, 120, long.MaxValue), l.CoveredPairs));
        }

        using (shard.RunSpan(sequence, tokens.AsSpan(120, 80), TestContext.Current.CancellationToken))
        {
        }

        Assert.All(sequence.AttentionDensity, l =>
        {
            Assert.Equal(1.0, l.Density);
            Assert.Equal(spec.QueryHeadCount * SpanAttentionCost.CappedPairs(0, 200, long.MaxValue), l.CausalPairs);
            Assert.Equal(0, l.SparseHeads);
        });
    }

    private static LayerDensity[] Density(RandomModelWeights weights, Kernels.Cpu.CpuBackend backend, PatternConfig config, int[] tokens, int[] chunks)
    {
        var runner = EngineTestKit.Runner(weights, backend, new ModelShardOptions { Patterns = config });
        var sequence = runner.CreateSequence(tokens.Length);
        runner.Prefill(sequence, tokens, chunks, cancellationToken: TestContext.Current.CancellationToken);
        var density = sequence.SelectMany(s => s.AttentionDensity).ToArray();
        foreach (var stage in sequence)
        {
            stage.Dispose();
        }

        return density;
    }
}
