using MInference.Shared.Patterns;

namespace MInference.Engine.Tests;

public sealed class SparsePrefillTests
{
    private const int PromptTokens = 300;

    /// <summary>
    /// A config whose VS budgets are one short of the prompt (so the sparse kernels run, yet their
    /// 64-wide ranges cover every causal key) gives the same logits as the dense model.
    /// </summary>
    [Fact]
    public void Covering_vertical_slash_config_matches_dense()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 17);
        using var backend = EngineTestKit.Backend();
        var tokens = EngineTestKit.RandomTokens(new Random(5), PromptTokens, spec.VocabSize);
        var covering = HeadPattern.VerticalSlash(PromptTokens - 1, PromptTokens - 1);
        Assert.False(Kernels.Sparse.SparseHeadPlan.SelectsEverything(covering, PromptTokens));

        var dense = Prefill(weights, backend, null, tokens, [PromptTokens]);
        var sparse = Prefill(weights, backend, PatternConfig.Uniform(spec.LayerCount, spec.QueryHeadCount, covering), tokens, [PromptTokens]);

        EngineTestKit.AssertClose(dense, sparse, "covering VS logits", 1e-4);
    }

    /// <summary>
    /// With real budgets (a mix of VS, A-shape and block-sparse heads) chunked sparse pre-fill gives
    /// finite logits that differ from dense, and the same logits bit for bit when run twice.
    /// </summary>
    [Fact]
    public void Chunked_sparse_prefill_is_deterministic_and_differs_from_dense()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 23);
        using var backend = EngineTestKit.Backend();
        var tokens = EngineTestKit.RandomTokens(new Random(8), PromptTokens, spec.VocabSize);
        HeadPattern[] mix = [HeadPattern.VerticalSlash(30, 50), HeadPattern.AShape(4, 32), HeadPattern.BlockSparse(1), HeadPattern.Dense];
        var config = new PatternConfig(
            spec.LayerCount, spec.QueryHeadCount, [.. Enumerable.Range(0, spec.LayerCount * spec.QueryHeadCount).Select(i => mix[i % mix.Length])]);
        int[] chunks = [128, 100, 72];

        var dense = Prefill(weights, backend, null, tokens, chunks);
        var first = Prefill(weights, backend, config, tokens, chunks);
        var second = Prefill(weights, backend, config, tokens, chunks);

        Assert.All(first, value => Assert.True(float.IsFinite(value)));
        Assert.Equal(first, second);
        var difference = Math.Sqrt(first.Zip(dense, (a, b) => (double)(a - b) * (a - b)).Sum() / dense.Sum(x => (double)x * x));
        Assert.True(difference > 1e-3, $"sparse logits differ from dense by only {difference:E2}");
    }

    /// <summary>A config made for another number of layers or heads is rejected at load, naming both counts.</summary>
    [Theory]
    [InlineData(2, 4, "2 layers")]
    [InlineData(3, 8, "8 query heads")]
    public void Config_that_does_not_fit_is_rejected(int layers, int heads, string expected)
    {
        var spec = EngineTestKit.Spec();
        using var weights = new RandomModelWeights(spec, seed: 1);
        using var backend = EngineTestKit.Backend();
        var options = new ModelShardOptions { Patterns = PatternConfig.Uniform(layers, heads, HeadPattern.Default) };

        var error = Assert.Throws<PatternConfigException>(() => EngineTestKit.Runner(weights, backend, options));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Which attention op the runtime calls: a sparse span goes to SparseAttention (no dense calls),
    /// a span too short for any pattern to skip a key and a one-token decode step go to dense Attention
    /// (one call per layer each).
    /// </summary>
    [Fact]
    public void Decode_and_short_spans_stay_dense()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 29);
        using var inner = EngineTestKit.Backend();
        var denseCalls = 0;
        using var backend = new Analysis.AttentionCaptureBackend(inner, _ => denseCalls++);
        var config = PatternConfig.Uniform(spec.LayerCount, spec.QueryHeadCount, HeadPattern.AShape(16, 48));
        var runner = EngineTestKit.Runner(weights, backend, new ModelShardOptions { Patterns = config });
        var sequence = runner.CreateSequence(PromptTokens);
        var tokens = EngineTestKit.RandomTokens(new Random(30), PromptTokens, spec.VocabSize);

        runner.RunSpan(sequence, tokens.AsSpan(0, 60), TestContext.Current.CancellationToken);
        Assert.Equal(spec.LayerCount, denseCalls);
        runner.RunSpan(sequence, tokens.AsSpan(60, 100), TestContext.Current.CancellationToken);
        Assert.Equal(spec.LayerCount, denseCalls);
        runner.RunSpan(sequence, tokens.AsSpan(160, 1), TestContext.Current.CancellationToken);
        Assert.Equal(2 * spec.LayerCount, denseCalls);
    }

    private static float[] Prefill(RandomModelWeights weights, Kernels.Cpu.CpuBackend backend, PatternConfig? config, int[] tokens, int[] chunks)
    {
        var runner = EngineTestKit.Runner(weights, backend, new ModelShardOptions { Patterns = config });
        var sequence = runner.CreateSequence(tokens.Length + 4);
        float[]? logits = null;
        var start = 0;
        foreach (var chunk in chunks)
        {
            logits = runner.RunSpan(sequence, tokens.AsSpan(start, chunk), TestContext.Current.CancellationToken);
            start += chunk;
        }

        return logits!;
    }
}
