using MInference.Engine.Analysis;
using MInference.Shared.Patterns;
using MInference.Shared.Tokenization;

namespace MInference.Engine.Tests;

public sealed class PatternAnalysisTests
{
    private const int PromptTokens = 256;

    /// <summary>
    /// The fidelity report on a tiny model has one row per (layer, head); dense heads report error 0,
    /// recall 1 and density 1; sparse heads compute fewer pairs (density below 1), keep part of the mass
    /// (recall in (0, 1)) and differ from dense (error above 0); the layer summary averages its heads.
    /// </summary>
    [Fact]
    public void Report_measures_every_head_against_dense()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 4);
        using var backend = EngineTestKit.Backend();
        HeadPattern[] mix = [HeadPattern.Dense, HeadPattern.VerticalSlash(30, 50), HeadPattern.AShape(4, 32), HeadPattern.BlockSparse(1)];
        var config = new PatternConfig(spec.LayerCount, spec.QueryHeadCount, [.. Enumerable.Range(0, spec.LayerCount * spec.QueryHeadCount).Select(i => mix[i % 4])]);
        var tokens = EngineTestKit.RandomTokens(new Random(2), PromptTokens, spec.VocabSize);
        var layersDone = new List<int>();

        var report = PatternFidelityAnalyzer.Analyze(weights, backend, config, tokens, new InlineProgress(layersDone.Add), TestContext.Current.CancellationToken);

        Assert.Equal([1, 2, 3], layersDone);
        Assert.Equal(spec.LayerCount * spec.QueryHeadCount, report.Heads.Count);
        foreach (var row in report.Heads)
        {
            Assert.Equal(config[row.Layer, row.Head], row.Pattern);
            if (row.Pattern.Kind == SparsePatternKind.Dense)
            {
                Assert.Equal((0.0, 1.0, 1.0), (row.RelativeError, row.Recall, row.Density));
                continue;
            }

            Assert.Equal(row.Pattern.Kind, row.RanAs);
            Assert.InRange(row.Density, 0.01, 0.99);
            Assert.InRange(row.Recall, 0.01, 0.999999);
            Assert.InRange(row.RelativeError, 1e-6, 10);
        }

        var layer1 = report.Heads.Where(h => h.Layer == 1).ToArray();
        Assert.Equal(layer1.Average(h => h.RelativeError), report.Layers[1].MeanError, 12);
        Assert.Equal(layer1.Max(h => h.RelativeError), report.Layers[1].MaxError);
    }

    /// <summary>
    /// The model-level search returns a config that fits the model, picks from the candidates, records
    /// the winner's error as its score, and is the same when run twice on the same input.
    /// </summary>
    [Fact]
    public void Search_is_deterministic_and_picks_from_the_candidates()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 6);
        using var backend = EngineTestKit.Backend();
        var tokens = EngineTestKit.RandomTokens(new Random(7), PromptTokens, spec.VocabSize);
        HeadPattern[] candidates = [HeadPattern.AShape(4, 32), HeadPattern.VerticalSlash(30, 50), HeadPattern.BlockSparse(1)];

        var first = PatternSearch.Run(weights, backend, tokens, candidates, cancellationToken: TestContext.Current.CancellationToken);
        var second = PatternSearch.Run(weights, backend, tokens, candidates, cancellationToken: TestContext.Current.CancellationToken);

        first.EnsureFits(spec.LayerCount, spec.QueryHeadCount, "tiny");
        for (var layer = 0; layer < spec.LayerCount; layer++)
        {
            for (var head = 0; head < spec.QueryHeadCount; head++)
            {
                Assert.Contains(first[layer, head], candidates);
                Assert.Equal(first[layer, head], second[layer, head]);
                Assert.Equal(first.Score(layer, head), second.Score(layer, head));
                Assert.InRange(first.Score(layer, head)!.Value, 0, 10);
            }
        }
    }

    /// <summary>The KV-retrieval prompt fits the length, asks for a key that is in the object, and is the same for the same seed.</summary>
    [Fact]
    public void Key_value_retrieval_prompt_is_seeded_and_fits()
    {
        var tokenizer = ByteLevelTokenizer.Instance;
        var (ids, key, value) = KeyValueRetrievalPrompt.Build(tokenizer, 2000, seed: 3);
        var again = KeyValueRetrievalPrompt.Build(tokenizer, 2000, seed: 3);
        var other = KeyValueRetrievalPrompt.Build(tokenizer, 2000, seed: 4);

        Assert.InRange(ids.Length, 1500, 2000);
        Assert.Equal(ids, again.TokenIds);
        Assert.NotEqual(ids, other.TokenIds);
        var text = tokenizer.Decode(ids);
        Assert.Contains($"\"{key}\": \"{value}\"", text, StringComparison.Ordinal);
        Assert.EndsWith($"Key: \"{key}\"\nThe value associated with the specified key is: ", text, StringComparison.Ordinal);
    }

    private sealed class InlineProgress(Action<int> report) : IProgress<int>
    {
        public void Report(int value) => report(value);
    }
}
