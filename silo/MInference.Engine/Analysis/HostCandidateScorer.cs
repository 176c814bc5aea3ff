using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Engine.Analysis;

/// <summary>
/// Scores candidates with the CPU reference kernels on the host copy of a layer's Q/K/V
/// (<see cref="HeadPatternSearch.Select(IReadOnlyList{HeadPattern}, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, in SparseSpan, int, ScoringRows)"/>):
/// the dense reference once per head on the scored rows, each candidate's estimation plus its sparse
/// attention on those rows. Heads run in parallel, each writing its own slot, so the result does not
/// depend on scheduling.
/// </summary>
public sealed class HostCandidateScorer(int maxDegreeOfParallelism = -1) : IPatternCandidateScorer
{
    public CandidateScore[][] Score(CapturedAttention layer, IReadOnlyList<HeadPattern> candidates, ScoringRows rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var scores = new CandidateScore[layer.Span.QueryHeads][];
        Parallel.For(
            0,
            layer.Span.QueryHeads,
            new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = maxDegreeOfParallelism },
            head => scores[head] = HeadPatternSearch.Select(candidates, layer.Query, layer.Keys, layer.Values, layer.Span, head, rows).Scores);
        return scores;
    }
}
