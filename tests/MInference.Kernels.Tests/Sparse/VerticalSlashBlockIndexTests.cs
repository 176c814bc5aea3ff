using MInference.Kernels.Sparse;

namespace MInference.Kernels.Tests.Sparse;

public class VerticalSlashBlockIndexTests
{
    /// <summary>
    /// On random selections (whole prompts and chunks, ragged lengths): after the causal mask the
    /// covered set holds every selected (row, key) pair; no row meets a key twice; ranges are ascending,
    /// disjoint, not touching and causal; columns sit strictly before their block; both lists stay within
    /// the budgets; and the reported covered and selected pair counts equal a brute-force count.
    /// </summary>
    [Theory]
    [InlineData(101)]
    [InlineData(102)]
    [InlineData(103)]
    [InlineData(104)]
    [InlineData(105)]
    [InlineData(106)]
    public void Covered_set_contains_the_selection_without_duplicates_within_budget(int seed)
    {
        var random = new Random(seed);
        for (var trial = 0; trial < 12; trial++)
        {
            var spanStart = random.Next(3) == 0 ? 0 : random.Next(1, 400);
            var spanLength = random.Next(1, 330);
            var keyLength = spanStart + spanLength;
            var offsets = RandomSubset(random, keyLength, random.Next(1, Math.Min(keyLength, 90) + 1), mustHaveZero: true);
            var columns = RandomSubset(random, keyLength, random.Next(0, Math.Min(keyLength, 60) + 1), mustHaveZero: false);
            var selection = new VerticalSlashSelection(spanStart, spanLength, columns, offsets);
            var index = VerticalSlashBlockIndex.Build(selection);
            CheckIndex(selection, index);
        }
    }

    /// <summary>Slashes whose ranges touch or overlap merge into one range; a gap keeps them apart.</summary>
    [Fact]
    public void Touching_ranges_merge_and_separated_ones_do_not()
    {
        // Block 2 covers positions 128..191: offset 0 -> [128, 192); offset 64 -> [64, 128) touches it;
        // offset 100 -> [28, 92) overlaps that; offset 120 -> [8, 72) too; no gap: one range [8, 192).
        var merged = VerticalSlashBlockIndex.Build(new VerticalSlashSelection(0, 192, [], [0, 64, 100, 120]));
        Assert.Equal([8, 192], Ranges(merged, 2));

        // Offset 65 -> [63, 127) leaves key 127 uncovered before [128, 192): two ranges.
        var apart = VerticalSlashBlockIndex.Build(new VerticalSlashSelection(0, 192, [], [0, 65]));
        Assert.Equal([63, 127, 128, 192], Ranges(apart, 2));
    }

    /// <summary>A column inside a range or at/after the block start is not gathered; others are.</summary>
    [Fact]
    public void Columns_inside_ranges_or_not_before_the_block_are_dropped()
    {
        var index = VerticalSlashBlockIndex.Build(new VerticalSlashSelection(0, 192, [3, 70, 127, 150], [0, 65]));
        var block = 2;
        var columns = index.Columns[index.ColumnOffsets[block]..index.ColumnOffsets[block + 1]];
        Assert.Equal([3, 127], columns);
    }

    private static int[] Ranges(VerticalSlashBlockIndex index, int block)
        => index.RangeBounds[(2 * index.RangeOffsets[block])..(2 * index.RangeOffsets[block + 1])];

    private static int[] RandomSubset(Random random, int limit, int count, bool mustHaveZero)
    {
        var chosen = new SortedSet<int>();
        if (mustHaveZero)
        {
            chosen.Add(0);
        }

        while (chosen.Count < count)
        {
            // Half near zero so that slashes cross many blocks and ranges merge.
            chosen.Add(random.Next(2) == 0 ? random.Next(Math.Min(limit, 200)) : random.Next(limit));
        }

        return [.. chosen];
    }

    private static void CheckIndex(VerticalSlashSelection selection, VerticalSlashBlockIndex index)
    {
        var keyLength = selection.KeyLength;
        var isColumn = new bool[keyLength];
        foreach (var c in selection.Columns)
        {
            isColumn[c] = true;
        }

        Assert.Equal((selection.SpanLength + 63) / 64, index.QueryBlocks);
        long covered = 0, selected = 0;
        var hits = new int[keyLength];
        for (var b = 0; b < index.QueryBlocks; b++)
        {
            var first = selection.SpanStart + (64 * b);
            var last = selection.SpanStart + Math.Min(64 * (b + 1), selection.SpanLength) - 1;
            var rangeCount = index.RangeOffsets[b + 1] - index.RangeOffsets[b];
            var columnCount = index.ColumnOffsets[b + 1] - index.ColumnOffsets[b];
            Assert.InRange(rangeCount, 0, selection.Offsets.Length);
            Assert.InRange(columnCount, 0, selection.Columns.Length);
            for (var i = index.RangeOffsets[b]; i < index.RangeOffsets[b + 1]; i++)
            {
                var (start, end) = (index.RangeBounds[2 * i], index.RangeBounds[(2 * i) + 1]);
                Assert.True(start >= 0 && start < end && end <= last + 1, $"block {b} range [{start}, {end}) outside [0, {last + 1})");
                if (i > index.RangeOffsets[b])
                {
                    Assert.True(start > index.RangeBounds[(2 * i) - 1], $"block {b}: range [{start}, {end}) touches or overlaps the previous one");
                }
            }

            for (var i = index.ColumnOffsets[b]; i < index.ColumnOffsets[b + 1]; i++)
            {
                Assert.True(index.Columns[i] < first, $"block {b}: column {index.Columns[i]} not before the block start {first}");
                Assert.True(isColumn[index.Columns[i]], $"block {b}: column {index.Columns[i]} was not selected");
            }

            for (var p = first; p <= last; p++)
            {
                Array.Clear(hits);
                for (var i = index.RangeOffsets[b]; i < index.RangeOffsets[b + 1]; i++)
                {
                    for (var k = index.RangeBounds[2 * i]; k < Math.Min(index.RangeBounds[(2 * i) + 1], p + 1); k++)
                    {
                        hits[k]++;
                    }
                }

                for (var i = index.ColumnOffsets[b]; i < index.ColumnOffsets[b + 1]; i++)
                {
                    hits[index.Columns[i]]++;
                }

                var wanted = new bool[keyLength];
                foreach (var c in selection.Columns.Where(c => c <= p))
                {
                    wanted[c] = true;
                }

                foreach (var o in selection.Offsets.Where(o => o <= p))
                {
                    wanted[p - o] = true;
                }

                for (var k = 0; k < keyLength; k++)
                {
                    Assert.True(hits[k] <= 1, $"position {p}: key {k} visited {hits[k]} times");
                    Assert.True(k <= p || hits[k] == 0, $"position {p}: key {k} after the query is covered");
                    Assert.True(!wanted[k] || hits[k] == 1, $"position {p}: selected key {k} is not covered");
                    covered += hits[k];
                    selected += wanted[k] ? 1 : 0;
                }
            }
        }

        var coverage = SparseCoverage.Measure(selection, index);
        Assert.Equal(covered, coverage.CoveredPairs);
        Assert.Equal(selected, coverage.SelectedPairs);
        Assert.True(coverage.ExtraPairs >= 0);
        Assert.Equal(SparseCoverage.CausalPairsOf(selection.SpanStart, selection.SpanLength), coverage.CausalPairs);
        Assert.InRange(coverage.Density, 0.0, 1.0);
    }
}
