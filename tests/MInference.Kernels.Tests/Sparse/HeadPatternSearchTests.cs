using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Tests.Sparse;

public class HeadPatternSearchTests
{
    private const int Tokens = 2048;

    public static TheoryData<string, SparsePatternKind> PlantedHeads => new()
    {
        { "a-shape", SparsePatternKind.AShape },
        { "vertical-slash", SparsePatternKind.VerticalSlash },
        { "block", SparsePatternKind.BlockSparse },
    };

    /// <summary>
    /// On Q/K with a planted A-shape (sinks and a local band only), Vertical-Slash (sinks, needles and
    /// periodic slashes) or block structure (clustered block pairs), the search over the paper's
    /// candidate space scaled to the context picks a candidate of the planted type.
    /// </summary>
    [Theory]
    [MemberData(nameof(PlantedHeads))]
    public void Search_assigns_each_head_its_planted_type(string planted, SparsePatternKind expected)
    {
        var inputs = PlantedInputs(planted);
        var candidates = PatternSearchSpace.Candidates(Tokens);

        var (best, scores) = HeadPatternSearch.Select(candidates, inputs.Query, inputs.Keys, inputs.Values, inputs.Span, 0);

        AssertPicked(expected, planted, best, scores);
    }

    /// <summary>
    /// The same planted heads scored on a stratified sample of 256 of the 2048 query rows (what the model
    /// search does by default): each head still gets its planted type, and the sample is deterministic
    /// (the same seed gives the same scores).
    /// </summary>
    [Theory]
    [MemberData(nameof(PlantedHeads))]
    public void Search_on_sampled_rows_assigns_each_head_its_planted_type(string planted, SparsePatternKind expected)
    {
        var inputs = PlantedInputs(planted);
        var candidates = PatternSearchSpace.Candidates(Tokens);
        var rows = QueryRowSample.Draw(Tokens, 256, seed: 7);

        var (best, scores) = HeadPatternSearch.Select(candidates, inputs.Query, inputs.Keys, inputs.Values, inputs.Span, 0, rows);
        var (_, again) = HeadPatternSearch.Select(candidates, inputs.Query, inputs.Keys, inputs.Values, inputs.Span, 0, rows);

        AssertPicked(expected, planted, best, scores);
        Assert.Equal(scores, again);
    }

    /// <summary>At the paper's reference length the space is the paper's; shorter contexts scale it, VS budgets never below the estimator's minimums, no duplicates.</summary>
    [Fact]
    public void Search_space_scales_the_papers_candidates()
    {
        Assert.Equal(
            [HeadPattern.AShape(1024, 4096), HeadPattern.VerticalSlash(30, 2048), HeadPattern.VerticalSlash(100, 1800),
             HeadPattern.VerticalSlash(500, 1500), HeadPattern.VerticalSlash(3000, 200), HeadPattern.BlockSparse(100)],
            PatternSearchSpace.Candidates(PatternSearchSpace.ReferenceTokens));
        Assert.Equal(
            [HeadPattern.AShape(64, 256), HeadPattern.VerticalSlash(30, 128), HeadPattern.VerticalSlash(30, 112),
             HeadPattern.VerticalSlash(31, 94), HeadPattern.VerticalSlash(188, 50), HeadPattern.BlockSparse(6)],
            PatternSearchSpace.Candidates(2048));
        Assert.Equal(
            [HeadPattern.AShape(1, 1), HeadPattern.VerticalSlash(30, 50), HeadPattern.BlockSparse(1)],
            PatternSearchSpace.Candidates(8));
    }

    /// <summary>The nominal cost model: VS costs s 64x64 ranges plus v 64-row columns per query block, capped at the causal block.</summary>
    [Fact]
    public void Kernel_cost_follows_the_documented_model()
    {
        // 4 query blocks; VS(40, 60): 60 * 4096 + 40 * 64 per block, capped at (b + 1) * 4096.
        Assert.Equal(4096 + 8192 + 12288 + 16384, KernelCost.Of(HeadPattern.VerticalSlash(40, 60), 256));
        Assert.Equal(4 * ((16 + 32) * 64), KernelCost.Of(HeadPattern.AShape(16, 32), 256));
        Assert.Equal(4096 + (3 * 2 * 4096), KernelCost.Of(HeadPattern.BlockSparse(2), 256));
        Assert.Equal(4096 + 8192 + 12288 + 16384, KernelCost.Of(HeadPattern.Dense, 256));
    }

    /// <summary>Q/K/V of one head with the named structure planted (fixed seed per structure).</summary>
    private static SyntheticAttentionInputs PlantedInputs(string planted)
    {
        var options = planted switch
        {
            "a-shape" => new SyntheticPatternOptions { Tokens = Tokens, Seed = 31, SinkKeys = 4, NeedleColumns = 0, SlashPeriod = 4 * Tokens },
            "vertical-slash" => new SyntheticPatternOptions { Tokens = Tokens, Seed = 32, SinkKeys = 4, NeedleColumns = 24, SlashPeriod = 256 },
            _ => new SyntheticPatternOptions { Tokens = Tokens, Seed = 33, SinkKeys = 0, NeedleColumns = 0, SlashPeriod = 0, ClusterPairs = 40 },
        };
        return SyntheticAttentionInputs.Create(options);
    }

    /// <summary>Fails with every candidate's error and cost when the picked candidate is not of the planted kind.</summary>
    private static void AssertPicked(SparsePatternKind expected, string planted, int best, CandidateScore[] scores)
    {
        var table = string.Join("; ", scores.Select(s => $"{s.Pattern}: error {s.RelativeError:E2}, cost {s.Cost}"));
        Assert.True(expected == scores[best].Pattern.Kind, $"planted {planted}, picked {scores[best].Pattern} from {table}");
    }
}
