using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Engine.Analysis;

/// <summary>Settings of the offline pattern search (<see cref="PatternSearch"/>).</summary>
public sealed class PatternSearchOptions
{
    /// <summary>Default for <see cref="SampledRows"/>.</summary>
    public const int DefaultSampledRows = 512;

    /// <summary>Default for <see cref="FinalRows"/>: the Vertical-Slash estimator's last queries.</summary>
    public const int DefaultFinalRows = VerticalSlashEstimator.LastQueries;

    /// <summary>The candidates every head chooses from; null: <see cref="PatternSearchSpace.Candidates"/> scaled to the reference input.</summary>
    public IReadOnlyList<HeadPattern>? Candidates { get; set; }

    /// <summary>
    /// Query rows per layer on which candidates are scored against dense (a stratified sample, see
    /// <see cref="QueryRowSample"/>; the same rows for every head of a layer); at least the reference
    /// length scores every row. Scores are exact for the rows sampled. Default: <see cref="DefaultSampledRows"/>.
    /// </summary>
    public int SampledRows { get; set; } = DefaultSampledRows;

    /// <summary>
    /// The span's last rows scored as a group of their own (<see cref="ScoringRows"/>): a candidate's error
    /// is the worse of the sample's and these rows' relative L2, so a head whose last row retrieves a few
    /// distant keys (the row that yields the first generated token) keeps a pattern that covers them.
    /// 0 scores the sample alone (the paper's scoring). Default: <see cref="DefaultFinalRows"/> (64, the
    /// Vertical-Slash estimation rows).
    /// </summary>
    public int FinalRows { get; set; } = DefaultFinalRows;

    /// <summary>Seed of the row sample: the same seed, input and model give the same config. Default 0.</summary>
    public int Seed { get; set; }

    /// <summary>
    /// How candidates are scored; null: <see cref="HostCandidateScorer"/> (the CPU reference kernels on the
    /// captured Q/K/V, heads in parallel). <see cref="BackendCandidateScorer"/> scores on any backend with
    /// sparse attention kernels (a GPU).
    /// </summary>
    public IPatternCandidateScorer? Scorer { get; set; }

    /// <summary>Throws naming the bad setting and its limit.</summary>
    public void Validate()
    {
        if (SampledRows < 1)
        {
            throw new ArgumentOutOfRangeException(
                nameof(SampledRows), SampledRows, $"PatternSearchOptions.SampledRows is {SampledRows} but must be at least 1 (default {DefaultSampledRows})");
        }

        if (FinalRows < 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(FinalRows), FinalRows, $"PatternSearchOptions.FinalRows is {FinalRows} but must be at least 0 (0: score the sample alone; default {DefaultFinalRows})");
        }

        if (Candidates is { Count: 0 })
        {
            throw new ArgumentException("PatternSearchOptions.Candidates is empty: the search needs at least one candidate pattern", nameof(Candidates));
        }
    }
}
