using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Engine.Analysis;

/// <summary>
/// The offline kernel-aware search (paper Algorithm 1) over a whole model: one dense pass of the
/// reference input (<see cref="ReferencePass"/>), and at each layer every head picks its pattern with
/// <see cref="HeadPatternSearch"/> from the candidates (by default <see cref="PatternSearchSpace"/>
/// scaled to the input's length). The config records each winner's relative error as its score.
/// Deterministic: the same input gives the same config.
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
    {
        ArgumentNullException.ThrowIfNull(weights);
        var spec = weights.Spec;
        candidates ??= PatternSearchSpace.Candidates(referenceTokens.Length);
        var patterns = new HeadPattern[spec.LayerCount * spec.QueryHeadCount];
        var scores = new double?[patterns.Length];
        var done = 0;
        ReferencePass.Run(weights, backend, referenceTokens, (layer, call) =>
        {
            Parallel.For(0, call.Span.QueryHeads, new ParallelOptions { CancellationToken = cancellationToken }, head =>
            {
                var (best, headScores) = HeadPatternSearch.Select(candidates, call.Query, call.Keys, call.Values, call.Span, head);
                patterns[(layer * spec.QueryHeadCount) + head] = headScores[best].Pattern;
                scores[(layer * spec.QueryHeadCount) + head] = headScores[best].RelativeError;
                headsDone?.Report(Interlocked.Increment(ref done));
            });
        }, cancellationToken);
        return new PatternConfig(spec.LayerCount, spec.QueryHeadCount, patterns, scores) { Source = "search" };
    }
}
