using MInference.Engine.Analysis;
using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Engine.Tests;

public sealed class CandidateScorerTests
{
    private static readonly HeadPattern[] _candidates =
        [HeadPattern.AShape(8, 40), HeadPattern.VerticalSlash(30, 50), HeadPattern.BlockSparse(2)];

    /// <summary>
    /// Scoring through the op interface (<see cref="BackendCandidateScorer"/> on the CPU backend: dense
    /// Attention once, one SparseAttention call per candidate for all heads) gives the same errors as the
    /// host scorer on the same scored rows (a sample plus the final rows) of a captured layer, head by head;
    /// costs are identical.
    /// </summary>
    [Fact]
    public void Backend_scorer_matches_the_host_scorer()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 51);
        using var backend = EngineTestKit.Backend();
        var tokens = EngineTestKit.RandomTokens(new Random(9), 260, spec.VocabSize);
        var layers = new List<CapturedAttention>();
        ReferencePass.Run(weights, backend, tokens, (_, call) => layers.Add(call), TestContext.Current.CancellationToken);
        var rows = ScoringRows.Of(QueryRowSample.Draw(260, 50, seed: 2), 260, PatternSearchOptions.DefaultFinalRows);

        foreach (var layer in layers)
        {
            var host = new HostCandidateScorer().Score(layer, _candidates, rows, TestContext.Current.CancellationToken);
            var device = new BackendCandidateScorer(backend).Score(layer, _candidates, rows, TestContext.Current.CancellationToken);
            for (var head = 0; head < spec.QueryHeadCount; head++)
            {
                for (var c = 0; c < _candidates.Length; c++)
                {
                    Assert.Equal(host[head][c].Cost, device[head][c].Cost);
                    Assert.True(
                        Math.Abs(host[head][c].RelativeError - device[head][c].RelativeError) <= 1e-5 + (1e-3 * host[head][c].RelativeError),
                        $"layer {layer.CallIndex} head {head} {_candidates[c]}: host {host[head][c].RelativeError:E4}, backend {device[head][c].RelativeError:E4}");
                    Assert.True(host[head][c].RelativeError > 0, $"{_candidates[c]} equals dense on head {head}: the comparison would prove nothing");
                }
            }
        }
    }

    /// <summary>
    /// The model search with row sampling is deterministic for a seed, and scoring every row (sample as
    /// large as the input) gives the same config as the backend scorer over every row.
    /// </summary>
    [Fact]
    public void Sampled_search_is_deterministic_and_scorers_agree()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 52);
        using var backend = EngineTestKit.Backend();
        var tokens = EngineTestKit.RandomTokens(new Random(10), 260, spec.VocabSize);
        var ct = TestContext.Current.CancellationToken;

        var first = PatternSearch.Run(weights, backend, tokens, new PatternSearchOptions { Candidates = _candidates, SampledRows = 64, Seed = 3 }, cancellationToken: ct);
        var second = PatternSearch.Run(weights, backend, tokens, new PatternSearchOptions { Candidates = _candidates, SampledRows = 64, Seed = 3 }, cancellationToken: ct);
        var host = PatternSearch.Run(weights, backend, tokens, new PatternSearchOptions { Candidates = _candidates, SampledRows = 260 }, cancellationToken: ct);
        var device = PatternSearch.Run(
            weights, backend, tokens, new PatternSearchOptions { Candidates = _candidates, SampledRows = 260, Scorer = new BackendCandidateScorer(backend) }, cancellationToken: ct);

        Assert.Equal(PatternConfigJson.Serialize(first), PatternConfigJson.Serialize(second));
        for (var layer = 0; layer < spec.LayerCount; layer++)
        {
            Assert.Equal(host.Layer(layer), device.Layer(layer));
        }
    }

    /// <summary>A negative final-row count is rejected naming the setting; 0 (the sample alone) is allowed.</summary>
    [Fact]
    public void Search_options_reject_negative_final_rows()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new PatternSearchOptions { FinalRows = -1 }.Validate());
        Assert.Contains("FinalRows", error.Message, StringComparison.Ordinal);
        new PatternSearchOptions { FinalRows = 0 }.Validate();
    }
}
