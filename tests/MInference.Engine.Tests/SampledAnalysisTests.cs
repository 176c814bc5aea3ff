using MInference.Engine.Analysis;
using MInference.Shared.Patterns;

namespace MInference.Engine.Tests;

public sealed class SampledAnalysisTests
{
    /// <summary>
    /// The fidelity report measured on a sample of 96 of 320 query rows per layer: density is the same as
    /// the full report's (it is counted over every row), dense heads stay exact, and each sparse head's
    /// error and recall stay within a factor of two of the full measurement (they are estimates from
    /// rows computed exactly).
    /// </summary>
    [Fact]
    public void Sampled_report_keeps_density_exact_and_estimates_error()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 71);
        using var backend = EngineTestKit.Backend();
        HeadPattern[] mix = [HeadPattern.Dense, HeadPattern.VerticalSlash(30, 50), HeadPattern.AShape(4, 32), HeadPattern.BlockSparse(1)];
        var config = new PatternConfig(spec.LayerCount, spec.QueryHeadCount, [.. Enumerable.Range(0, spec.LayerCount * spec.QueryHeadCount).Select(i => mix[i % 4])]);
        var tokens = EngineTestKit.RandomTokens(new Random(3), 320, spec.VocabSize);
        var ct = TestContext.Current.CancellationToken;

        var full = PatternFidelityAnalyzer.Analyze(weights, backend, config, tokens, null, ct);
        var sampled = PatternFidelityAnalyzer.Analyze(weights, backend, config, tokens, sampledRows: 96, seed: 1, cancellationToken: ct);

        foreach (var (all, some) in full.Heads.Zip(sampled.Heads))
        {
            Assert.Equal((all.Layer, all.Head, all.Density), (some.Layer, some.Head, some.Density));
            if (all.Pattern.Kind == SparsePatternKind.Dense)
            {
                Assert.Equal((0.0, 1.0), (some.RelativeError, some.Recall));
                continue;
            }

            Assert.InRange(some.RelativeError, all.RelativeError / 2, all.RelativeError * 2);
            Assert.InRange(some.Recall, all.Recall / 2, Math.Min(1, all.Recall * 2));
        }
    }
}
