using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Engine.Analysis;

/// <summary>
/// Scores the search's candidates on one layer's captured attention inputs: for every query head, each
/// candidate's error against dense attention on the scored span rows (<see cref="ScoringRows.Error"/>:
/// the worse of the sampled rows' and the final rows' relative L2), and its kernel cost.
/// Implementations must be deterministic (same inputs, same scores) so the search is.
/// </summary>
public interface IPatternCandidateScorer
{
    /// <summary>Per query head, the candidates' scores in candidate order.</summary>
    CandidateScore[][] Score(CapturedAttention layer, IReadOnlyList<HeadPattern> candidates, ScoringRows rows, CancellationToken cancellationToken);
}
