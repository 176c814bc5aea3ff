using MInference.Kernels.Sparse;

namespace MInference.Kernels.Tests.Sparse;

public class VerticalSlashEstimatorTests
{
    /// <summary>
    /// Column and diagonal sums equal a double-precision computation of the last queries' causal
    /// softmax, for a whole prompt, a chunk with a ragged offset, and a span shorter than 64 queries.
    /// </summary>
    [Theory]
    [InlineData(0, 300, 11)]
    [InlineData(157, 90, 12)]
    [InlineData(200, 23, 13)]
    public void Scores_match_a_double_reference(int spanStart, int spanLength, int seed)
    {
        var random = new Random(seed);
        var span = new SparseSpan(4, 2, 16, spanStart, spanLength);
        var query = SparseTestData.Random(random, spanLength, span.QueryStride, 2f);
        var keys = SparseTestData.Random(random, span.KeyLength, span.KeyValueStride, 2f);
        const int head = 3;
        var columns = SparseTestData.Poisoned(span.KeyLength);
        var slashes = SparseTestData.Poisoned(span.KeyLength);
        VerticalSlashEstimator.ComputeScores(query, keys, span, head, columns, slashes);

        var expectedColumns = new double[span.KeyLength];
        var expectedSlashes = new double[span.KeyLength];
        var rows = Math.Min(64, spanLength);
        for (var r = spanLength - rows; r < spanLength; r++)
        {
            var p = spanStart + r;
            var probabilities = SoftmaxRow(query, keys, span, head, r, p);
            for (var j = 0; j <= p; j++)
            {
                expectedColumns[j] += probabilities[j];
                expectedSlashes[p - j] += probabilities[j];
            }
        }

        for (var j = 0; j < span.KeyLength; j++)
        {
            Assert.True(Math.Abs(columns[j] - expectedColumns[j]) <= 1e-5 + (1e-4 * expectedColumns[j]), $"column {j}: {columns[j]} vs {expectedColumns[j]}");
            Assert.True(Math.Abs(slashes[j] - expectedSlashes[j]) <= 1e-5 + (1e-4 * expectedSlashes[j]), $"offset {j}: {slashes[j]} vs {expectedSlashes[j]}");
        }
    }

    /// <summary>
    /// The selection holds exactly the clamped budgets, always the 30 sink columns and offsets 0..99, and
    /// every other chosen column/offset scores at least as high as every one left out.
    /// </summary>
    [Theory]
    [InlineData(0, 700, 40, 150, 21)]
    [InlineData(333, 250, 64, 120, 22)]
    public void Selection_keeps_forced_entries_and_the_top_scores(int spanStart, int spanLength, int v, int s, int seed)
    {
        var random = new Random(seed);
        var span = new SparseSpan(2, 1, 8, spanStart, spanLength);
        var query = SparseTestData.Random(random, spanLength, span.QueryStride, 3f);
        var keys = SparseTestData.Random(random, span.KeyLength, span.KeyValueStride, 3f);
        var selection = VerticalSlashEstimator.Estimate(query, keys, span, 1, v, s);
        Assert.Equal(v, selection.Columns.Length);
        Assert.Equal(s, selection.Offsets.Length);
        Assert.Equal(Enumerable.Range(0, 30), selection.Columns.Take(30));
        Assert.Equal(Enumerable.Range(0, 100), selection.Offsets.Take(100));

        var columnScores = new float[span.KeyLength];
        var slashScores = new float[span.KeyLength];
        VerticalSlashEstimator.ComputeScores(query, keys, span, 1, columnScores, slashScores);
        AssertTopScores(columnScores, selection.Columns, 30);
        AssertTopScores(slashScores, selection.Offsets, 100);
    }

    /// <summary>Budgets clamp to v = min(N, max(v, 30)) and s = min(N, max(s, 50)); the forced entries fill small budgets.</summary>
    [Fact]
    public void Budgets_clamp_to_MInference_rules()
    {
        var random = new Random(31);
        var tiny = new SparseSpan(1, 1, 8, 0, 20);
        var selection = VerticalSlashEstimator.Estimate(
            SparseTestData.Random(random, 20, 8), SparseTestData.Random(random, 20, 8), tiny, 0, 1000, 6096);
        Assert.Equal(Enumerable.Range(0, 20), selection.Columns);
        Assert.Equal(Enumerable.Range(0, 20), selection.Offsets);

        var small = new SparseSpan(1, 1, 8, 40, 80);
        selection = VerticalSlashEstimator.Estimate(
            SparseTestData.Random(random, 80, 8), SparseTestData.Random(random, 120, 8), small, 0, 1, 1);
        Assert.Equal(Enumerable.Range(0, 30), selection.Columns);
        Assert.Equal(Enumerable.Range(0, 50), selection.Offsets);
    }

    /// <summary>
    /// With identical keys every row's softmax is uniform, so many columns and offsets tie exactly;
    /// the lower column and the lower offset must win (the rule the GPU top-k follows too).
    /// </summary>
    [Fact]
    public void Exact_ties_keep_the_lower_column_and_offset()
    {
        var random = new Random(41);
        var span = new SparseSpan(1, 1, 8, 0, 200);
        var key = SparseTestData.Random(random, 1, 8);
        var keys = Enumerable.Range(0, 200).SelectMany(_ => key).ToArray();
        var selection = VerticalSlashEstimator.Estimate(SparseTestData.Random(random, 200, 8), keys, span, 0, 40, 120);
        Assert.Equal(Enumerable.Range(0, 40), selection.Columns);
        Assert.Equal(Enumerable.Range(0, 120), selection.Offsets);
    }

    private static void AssertTopScores(float[] scores, int[] selected, int forced)
    {
        var chosen = selected.ToHashSet();
        var weakestChosen = selected.Where(i => i >= forced).Select(i => scores[i]).DefaultIfEmpty(float.PositiveInfinity).Min();
        var strongestLeft = Enumerable.Range(0, scores.Length).Where(i => !chosen.Contains(i)).Select(i => scores[i]).DefaultIfEmpty(float.NegativeInfinity).Max();
        Assert.True(weakestChosen >= strongestLeft, $"a left-out entry scores {strongestLeft} above a chosen one at {weakestChosen}");
    }

    private static double[] SoftmaxRow(float[] query, float[] keys, SparseSpan span, int head, int row, int position)
    {
        var d = span.HeadDim;
        var kv = span.KeyValueHeadOf(head) * d;
        var scores = new double[position + 1];
        for (var j = 0; j <= position; j++)
        {
            double dot = 0;
            for (var i = 0; i < d; i++)
            {
                dot += (double)query[(row * span.QueryStride) + (head * d) + i] * keys[(j * span.KeyValueStride) + kv + i];
            }

            scores[j] = dot / Math.Sqrt(d);
        }

        var max = scores.Max();
        var exp = scores.Select(x => Math.Exp(x - max)).ToArray();
        var sum = exp.Sum();
        return exp.Select(x => x / sum).ToArray();
    }
}
