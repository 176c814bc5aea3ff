using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Tests.Sparse;

/// <summary>
/// Issue 3 item 7's targets at 32K tokens on planted structured inputs (one head, d = 64). The dense
/// reference at 32K is N²/2 = 5.4e8 pairs, too slow for CI, so output error is measured on a stratified
/// sample of query rows (<see cref="QueryRowSample"/>): dense and sparse are computed exactly for those
/// rows (<see cref="SparseHeadPlan.AttendRows"/>), so the error is exact for them; density is counted
/// over every row of the span.
/// </summary>
public class StructuredTargetTests
{
    private const int Tokens = 32768;
    private const int SampledRows = 384;

    /// <summary>
    /// Realistic VS head: sinks, needles, a local band and tapered slashes every 2048 positions carry the
    /// attention mass (planted logit gap 12). VS estimation recovers every planted column and slash, and
    /// VS(100, 640) attention reaches output relative L2 error at most 1e-2 against dense at density at
    /// most 10%.
    /// </summary>
    [Fact]
    public void VerticalSlash_meets_the_error_and_density_target_at_32K()
    {
        var inputs = SyntheticAttentionInputs.Create(VerticalSlashHead(seed: 41));
        var span = inputs.Span;

        var selection = VerticalSlashEstimator.Estimate(inputs.Query, inputs.Keys, span, 0, 100, 640);
        var columns = inputs.PlantedColumns.Intersect(selection.Columns).Count();
        var offsets = inputs.PlantedOffsets.Intersect(selection.Offsets).Count();
        Assert.True(columns >= 0.99 * inputs.PlantedColumns.Length, $"recovered {columns} of {inputs.PlantedColumns.Length} planted columns");
        Assert.True(offsets >= 0.99 * inputs.PlantedOffsets.Length, $"recovered {offsets} of {inputs.PlantedOffsets.Length} planted slashes");

        var plan = SparseHeadPlan.Estimate(HeadPattern.VerticalSlash(100, 640), inputs.Query, inputs.Keys, span, 0);
        var density = (double)plan.CoveredPairs() / SparseCoverage.CausalPairsOf(0, Tokens);
        var error = SampledError(plan, inputs, seed: 41);
        TestContext.Current.TestOutputHelper?.WriteLine($"VS(100, 640) at {Tokens}: density {density:P2}, sampled relative L2 error {error:E2}");
        Assert.Equal(SparsePatternKind.VerticalSlash, plan.Kind);
        Assert.True(density <= 0.10, $"density {density:P2} above 10% (error {error:E2})");
        Assert.True(error <= 1e-2, $"relative L2 error {error:E2} above 1e-2 at density {density:P2}");
    }

    /// <summary>
    /// Block head at 32K: 40 planted (query block, key block) pairs among 512 x 512 blocks; block-sparse
    /// estimation with top-8 keeps every planted key block for its query block.
    /// </summary>
    [Fact]
    public void BlockSparse_recovers_the_planted_blocks_at_32K()
    {
        var inputs = SyntheticAttentionInputs.Create(new SyntheticPatternOptions
        {
            Tokens = Tokens,
            HeadDim = 64,
            Seed = 43,
            SinkKeys = 0,
            NeedleColumns = 0,
            SlashPeriod = 0,
            ClusterPairs = 40,
        });
        var index = BlockSparseEstimator.Estimate(inputs.Query, inputs.Keys, inputs.Span, 0, 8);
        var missed = SparseTestData.MissedPlantedBlocks(inputs, index);
        Assert.Equal(40, inputs.PlantedBlocks.Length);
        Assert.True(missed.Length == 0, $"missed planted blocks: {string.Join(", ", missed)}");
    }

    /// <summary>
    /// Control for the error measurement: on the same head, a budget too small for the slashes (VS(30, 50):
    /// sinks and the local band only) misses the slash mass and its sampled error is far above 1e-2.
    /// </summary>
    [Fact]
    public void A_budget_that_misses_the_slashes_fails_the_error_target()
    {
        var inputs = SyntheticAttentionInputs.Create(VerticalSlashHead(seed: 41));
        var plan = SparseHeadPlan.Estimate(HeadPattern.VerticalSlash(30, 50), inputs.Query, inputs.Keys, inputs.Span, 0);
        var error = SampledError(plan, inputs, seed: 41);
        Assert.True(error > 0.1, $"relative L2 error {error:E2} with the slashes dropped");
    }

    private static SyntheticPatternOptions VerticalSlashHead(int seed) => new()
    {
        Tokens = Tokens,
        HeadDim = 64,
        Seed = seed,
        SinkKeys = 4,
        NeedleColumns = 16,
        SlashPeriod = 2048,
        SlashHarmonics = 30,
        TaperSlashes = true,
        PeakLogit = 12f,
    };

    private static double SampledError(SparseHeadPlan plan, SyntheticAttentionInputs inputs, int seed)
    {
        var span = inputs.Span;
        var rows = QueryRowSample.Draw(span.SpanLength, SampledRows, seed);
        var dense = new float[rows.Length * span.HeadDim];
        var sparse = new float[rows.Length * span.HeadDim];
        dense.AsSpan().Fill(float.NaN);
        sparse.AsSpan().Fill(float.NaN);
        SparseHeadPlan.DenseOf(span).AttendRows(inputs.Query, inputs.Keys, inputs.Values, rows, dense, 0);
        plan.AttendRows(inputs.Query, inputs.Keys, inputs.Values, rows, sparse, 0);
        return HeadFidelity.RelativeL2(dense, sparse);
    }
}
