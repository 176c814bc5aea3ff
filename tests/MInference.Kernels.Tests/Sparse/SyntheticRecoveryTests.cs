using MInference.Kernels.Sparse;

namespace MInference.Kernels.Tests.Sparse;

public class SyntheticRecoveryTests
{
    /// <summary>
    /// On inputs with planted sinks, needle columns, a local band and periodic slashes, VS estimation
    /// recovers at least 99% of the planted columns and slash offsets within modest budgets.
    /// </summary>
    [Theory]
    [InlineData(4096, 512, 7)]
    [InlineData(6000, 384, 8)]
    public void VerticalSlash_recovers_planted_columns_and_slashes(int tokens, int period, int seed)
    {
        var inputs = SyntheticAttentionInputs.Create(new SyntheticPatternOptions { Tokens = tokens, SlashPeriod = period, Seed = seed });
        var selection = VerticalSlashEstimator.Estimate(inputs.Query, inputs.Keys, inputs.Span, 0, 100, 400);
        var columns = inputs.PlantedColumns.Intersect(selection.Columns).Count();
        var offsets = inputs.PlantedOffsets.Intersect(selection.Offsets).Count();
        Assert.True(columns >= 0.99 * inputs.PlantedColumns.Length, $"recovered {columns} of {inputs.PlantedColumns.Length} planted columns");
        Assert.True(offsets >= 0.99 * inputs.PlantedOffsets.Length, $"recovered {offsets} of {inputs.PlantedOffsets.Length} planted slashes");
        Assert.True(inputs.PlantedOffsets.Length > 5 && inputs.PlantedColumns.Length > 15);
    }

    /// <summary>
    /// Control: the same positions without the planted signal (peak logit 0) are not recovered, so the
    /// recovery above comes from the structure and not from generous budgets.
    /// </summary>
    [Fact]
    public void Without_the_planted_signal_needles_and_slashes_are_not_recovered()
    {
        var inputs = SyntheticAttentionInputs.Create(new SyntheticPatternOptions { Tokens = 4096, PeakLogit = 0f, Seed = 7 });
        var selection = VerticalSlashEstimator.Estimate(inputs.Query, inputs.Keys, inputs.Span, 0, 100, 400);
        var needles = inputs.PlantedColumns.Where(c => c >= VerticalSlashEstimator.SinkColumns).Intersect(selection.Columns).Count();
        var slashes = inputs.PlantedOffsets.Where(o => o >= VerticalSlashEstimator.LocalOffsets).Intersect(selection.Offsets).Count();
        Assert.True(needles <= 8, $"{needles} needles recovered without any signal");
        Assert.True(slashes <= 4, $"{slashes} slashes recovered without any signal");
    }

    /// <summary>On inputs with planted clustered (query block, key block) pairs, block-sparse estimation keeps every planted key block.</summary>
    [Fact]
    public void BlockSparse_recovers_planted_blocks()
    {
        var inputs = SyntheticAttentionInputs.Create(new SyntheticPatternOptions
        {
            Tokens = 4096,
            SinkKeys = 0,
            NeedleColumns = 0,
            SlashPeriod = 0,
            ClusterPairs = 40,
            Seed = 9,
        });
        var index = BlockSparseEstimator.Estimate(inputs.Query, inputs.Keys, inputs.Span, 0, 6);
        var missed = SparseTestData.MissedPlantedBlocks(inputs, index);
        Assert.True(missed.Length == 0, $"missed planted blocks: {string.Join(", ", missed)}");
        Assert.Equal(40, inputs.PlantedBlocks.Length);
    }
}
