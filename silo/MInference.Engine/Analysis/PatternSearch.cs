using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Engine.Analysis;

/// <summary>
/// The offline kernel-aware search (paper Algorithm 1) over a whole model: one dense pass of the
/// reference input on <c>backend</c> (<see cref="ReferencePass"/>), and at each layer every head picks its
/// pattern from the candidates (by default <see cref="PatternSearchSpace"/> scaled to the input's length):
/// the scorer (<see cref="PatternSearchOptions.Scorer"/>) measures each candidate's output error against
/// dense on a seeded row sample and on the span's final rows (the worse of the two,
/// <see cref="ScoringRows"/>; <see cref="PatternSearchOptions.FinalRows"/>), and <see cref="HeadPatternSearch.Winner"/> picks (ties to the cheaper
/// kernel). The config records each winner's relative error as its score. Deterministic: the same input,
/// options and seed give the same config.
/// </summary>
public static class PatternSearch
{
    public static PatternConfig Run(
        IModelWeights weights,
        IComputeBackend backend,
        ReadOnlySpan<int> referenceTokens,
        IReadOnlyList<HeadPattern>? candidates = null,
        IProgress<int>? headsDone = null,
        CancellationToken cancellationToken = default)
        => Run(weights, backend, referenceTokens, new PatternSearchOptions { Candidates = candidates }, headsDone, cancellationToken);

    public static PatternConfig Run(
        IModelWeights weights,
        IComputeBackend backend,
        ReadOnlySpan<int> referenceTokens,
        PatternSearchOptions options,
        IProgress<int>? headsDone = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var spec = weights.Spec;
        var candidates = options.Candidates ?? PatternSearchSpace.Candidates(Math.Max(1, referenceTokens.Length));
        var scorer = options.Scorer ?? new HostCandidateScorer();
        var patterns = new HeadPattern[spec.LayerCount * spec.QueryHeadCount];
        var scores = new double?[patterns.Length];
        var done = 0;
        ReferencePass.Run(weights, backend, referenceTokens, (layer, call) =>
        {
            var sample = QueryRowSample.Draw(call.Span.SpanLength, options.SampledRows, options.Seed + layer);
            var rows = ScoringRows.Of(sample, call.Span.SpanLength, options.FinalRows);
            var layerScores = scorer.Score(call, candidates, rows, cancellationToken);
            for (var head = 0; head < call.Span.QueryHeads; head++)
            {
                var best = HeadPatternSearch.Winner(layerScores[head]);
                patterns[(layer * spec.QueryHeadCount) + head] = layerScores[head][best].Pattern;
                scores[(layer * spec.QueryHeadCount) + head] = layerScores[head][best].RelativeError;
            }

            done += call.Span.QueryHeads;
            headsDone?.Report(done);
        }, cancellationToken);
        return new PatternConfig(spec.LayerCount, spec.QueryHeadCount, patterns, scores) { Source = "search" };
    }
}
