using MInference.Engine.LayerMajor;
using MInference.Kernels.Cuda;
using MInference.Kernels.Sparse;
using MInference.Shared.Generation;
using MInference.Shared.Patterns;

namespace MInference.Engine.Tests;

/// <summary>The CPU side of <c>bench prefill</c>: the layer-major runner, its memory model, its argument parsing and the realistic index source.</summary>
public sealed class LayerMajorPrefillTests
{
    private const int PromptTokens = 300;

    /// <summary>
    /// Layer-major sparse pre-fill (one stage per layer, K/V freed after each) gives the same logits as the
    /// whole model in one stage through the CPU sparse reference, with every layer's density measured and
    /// below 1 (the VS budgets skip keys); with rows chunked by 64 (norms, projections and MLP in five
    /// chunks) it gives the same logits up to f32 rounding.
    /// </summary>
    [Fact]
    public void Layer_major_sparse_prefill_matches_one_stage_and_chunked_rows()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 41);
        using var backend = EngineTestKit.Backend();
        var tokens = EngineTestKit.RandomTokens(new Random(42), PromptTokens, spec.VocabSize);
        var config = PatternConfig.Uniform(spec.LayerCount, spec.QueryHeadCount, HeadPattern.VerticalSlash(30, 50));
        var options = new ModelShardOptions { Patterns = config };
        var cancellationToken = TestContext.Current.CancellationToken;

        var runner = EngineTestKit.Runner(weights, backend, options);
        var sequence = runner.CreateSequence(PromptTokens);
        var expected = runner.RunSpan(sequence, tokens, cancellationToken);

        using var layerMajor = LayerMajorPrefill.Load(weights, backend, options, cancellationToken);
        var heard = new List<int>();
        var result = layerMajor.Run(tokens, d => heard.Add(d.Layer), cancellationToken);
        Assert.Equal(expected, result.Logits);
        Assert.Equal(Enumerable.Range(0, spec.LayerCount), result.Densities.Select(d => d.Layer));
        Assert.Equal(Enumerable.Range(0, spec.LayerCount), heard);
        Assert.True(result.DensityMeasured);
        Assert.All(result.Densities, d => Assert.InRange(d.Density, 0.05, 0.999));

        using var chunked = LayerMajorPrefill.Load(weights, backend, new ModelShardOptions { Patterns = config, MlpChunkTokens = 64 }, cancellationToken);
        var chunkedResult = chunked.Run(tokens, cancellationToken: cancellationToken);
        EngineTestKit.AssertClose(expected, chunkedResult.Logits, "logits with rows in chunks of 64");
        Assert.Equal(result.Densities.Select(d => d.CoveredPairs), chunkedResult.Densities.Select(d => d.CoveredPairs));
    }

    /// <summary>Dense layer-major pre-fill reports density 1 for every layer and equals the one-stage model.</summary>
    [Fact]
    public void Layer_major_dense_prefill_matches_one_stage()
    {
        var spec = EngineTestKit.Spec();
        using var weights = new RandomModelWeights(spec, seed: 43);
        using var backend = EngineTestKit.Backend();
        var tokens = EngineTestKit.RandomTokens(new Random(44), 90, spec.VocabSize);
        var cancellationToken = TestContext.Current.CancellationToken;
        var runner = EngineTestKit.Runner(weights, backend);
        var expected = runner.RunSpan(runner.CreateSequence(tokens.Length), tokens, cancellationToken);

        using var layerMajor = LayerMajorPrefill.Load(weights, backend, cancellationToken: cancellationToken);
        var result = layerMajor.Run(tokens, cancellationToken: cancellationToken);

        Assert.Equal(expected, result.Logits);
        Assert.Equal(1.0, result.MeanDensity);
        Assert.Throws<ArgumentException>(() => _ = layerMajor.Run([], cancellationToken: cancellationToken));
    }

    /// <summary>
    /// The memory model at llama3-8b and 1M tokens in bf16: hidden, Q and the attention output 8 GiB each,
    /// one layer's K and V 4 GiB together, the chunk buffers (4096 rows) a few hundred MiB.
    /// </summary>
    [Fact]
    public void Memory_estimate_at_one_million_tokens()
    {
        var spec = ModelShapes.Get(ModelShapes.Llama3_8B);
        const long Tokens = 1 << 20;
        const double GiB = 1 << 30;

        var memory = LayerMajorMemory.Estimate(spec, Tokens, ModelShardOptions.DefaultMlpChunkTokens, sizeof(ushort));

        Assert.Equal(8.0, memory.HiddenBytes / GiB);
        Assert.Equal(8.0, memory.QueryBytes / GiB);
        Assert.Equal(8.0, memory.AttentionOutputBytes / GiB);
        Assert.Equal(4.0, memory.KeyValueBytes / GiB);
        Assert.Equal(4096L * ((2 * 4096) + (2 * 14336)) * 2, memory.ChunkBytes);
        Assert.InRange(memory.TotalBytes / GiB, 28.0, 28.5);
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = LayerMajorMemory.Estimate(spec, 0, 4096, 2));
    }

    /// <summary>--pattern / --index parsing: defaults, lists, and errors that name the bad value.</summary>
    [Fact]
    public void Attention_mode_parsing_names_bad_values()
    {
        Assert.False(PrefillAttentionMode.Parse("dense", null).Sparse);
        Assert.Equal([SparseIndexSource.Realistic], PrefillAttentionMode.Parse("sparse", null).IndexSources);
        Assert.Equal([SparseIndexSource.Realistic, SparseIndexSource.Estimated], PrefillAttentionMode.Parse("SPARSE", "realistic, estimated,realistic").IndexSources);

        Assert.Contains("--pattern blocky", Assert.Throws<ArgumentException>(() => PrefillAttentionMode.Parse("blocky", null)).Message, StringComparison.Ordinal);
        Assert.Contains("--index uniform", Assert.Throws<ArgumentException>(() => PrefillAttentionMode.Parse("sparse", "estimated,uniform")).Message, StringComparison.Ordinal);
        Assert.Contains("--index realistic", Assert.Throws<ArgumentException>(() => PrefillAttentionMode.Parse("dense", "realistic")).Message, StringComparison.Ordinal);
        Assert.Contains("' , '", Assert.Throws<ArgumentException>(() => PrefillAttentionMode.Parse("sparse", " , ")).Message, StringComparison.Ordinal);
    }

    /// <summary>The sparse config defaults to VS (1000, 6096) on every head; a file made for another model is rejected naming its shape.</summary>
    [Fact]
    public void Sparse_config_defaults_and_fits_the_model()
    {
        var spec = EngineTestKit.Spec();
        var config = PrefillAttentionMode.ConfigFor(spec, null);
        Assert.Equal(spec.LayerCount, config.LayerCount);
        Assert.All(Enumerable.Range(0, spec.LayerCount), layer => Assert.All(config.Layer(layer), p => Assert.Equal(HeadPattern.VerticalSlash(1000, 6096), p)));

        var wrong = PatternConfig.Uniform(spec.LayerCount + 1, spec.QueryHeadCount, HeadPattern.Default);
        var error = Assert.Throws<PatternConfigException>(() => PrefillAttentionMode.ConfigFor(spec, wrong));
        Assert.Contains($"{spec.LayerCount + 1} layers", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The realistic source (what the GPU attends over in <c>--index realistic</c>): per head a valid selection
    /// with the clamped budgets, the 30 sinks and offsets 0..99, the same for the same seed and head, different
    /// across heads; the CPU reference converts and attends with it; spans not starting at 0 are refused.
    /// </summary>
    [Fact]
    public void Realistic_source_gives_seeded_valid_selections_per_head()
    {
        const int Tokens = 20_000;
        var source = new RealisticVerticalSlashSource(seed: 7);
        int[] heads = [0, 1, 5];
        (int, int)[] budgets = [(1000, 6096), (1000, 6096), (10, 20)];

        var selections = source.Select(0, Tokens, heads, budgets);
        var again = new RealisticVerticalSlashSource(seed: 7).Select(0, Tokens, heads, budgets);

        Assert.Equal(3, selections.Count);
        Assert.Equal([1000, 1000, 30], selections.Select(s => s.Columns.Length));
        Assert.Equal([6096, 6096, 50], selections.Select(s => s.Offsets.Length));
        Assert.All(selections, s => Assert.Equal(Enumerable.Range(0, 30), s.Columns.Take(30)));
        Assert.All(selections.Take(2), s => Assert.Equal(Enumerable.Range(0, 100), s.Offsets.Take(100)));
        Assert.Equal(selections[0].Offsets, again[0].Offsets);
        Assert.Equal(selections[1].Columns, again[1].Columns);
        Assert.NotEqual(selections[0].Offsets, selections[1].Offsets);

        var index = VerticalSlashBlockIndex.Build(selections[0]);
        var density = (double)index.CoveredPairs() / SparseCoverage.CausalPairsOf(0, Tokens);
        Assert.InRange(density, 0.05, 0.999);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => source.Select(64, Tokens, heads, budgets));
        Assert.Equal(64, error.ActualValue);
    }
}
