using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Tests.Sparse;

public class ScoringRowsTests
{
    private const int Tokens = 2048;

    /// <summary>The scored rows are the sample and the span's last rows, ascending without duplicates; the final group never exceeds the span.</summary>
    [Fact]
    public void Rows_are_the_sample_and_the_final_rows_without_duplicates()
    {
        var rows = ScoringRows.Of([1, 5, 97, 99], spanLength: 100, finalRows: 3);
        Assert.Equal([1, 5, 97, 98, 99], rows.Rows);
        Assert.Equal(3, rows.FinalRows);

        var all = ScoringRows.Of([0, 2], spanLength: 4, finalRows: 64);
        Assert.Equal([0, 1, 2, 3], all.Rows);
        Assert.Equal(4, all.FinalRows);

        Assert.Equal([3, 8], ScoringRows.Sample([3, 8]).Rows);
        Assert.Equal(0, ScoringRows.Sample([3, 8]).FinalRows);
        Assert.Throws<ArgumentException>(() => ScoringRows.Of([5, 5], 10, 2));
        Assert.Throws<ArgumentException>(() => ScoringRows.Of([2, 12], 10, 2));
    }

    /// <summary>
    /// The error is the worse group's relative L2: outputs that differ only on a final row score that row's
    /// group error, which scoring the sample alone does not see (0); differing only on a sampled row, the
    /// sample's error.
    /// </summary>
    [Fact]
    public void Error_is_the_worse_of_the_sample_and_the_final_rows()
    {
        const int d = 4;
        var rows = ScoringRows.Of([0, 10, 20], spanLength: 32, finalRows: 2);
        Assert.Equal([0, 10, 20, 30, 31], rows.Rows);
        var random = new Random(11);
        var dense = Enumerable.Range(0, rows.Rows.Length * d).Select(_ => (float)(random.NextDouble() + 0.5)).ToArray();

        var finalDiffers = (float[])dense.Clone();
        finalDiffers[(4 * d) + 1] += 3;
        var (sample, final) = rows.Errors(dense, finalDiffers, d);
        var finalNorm = Math.Sqrt(dense.AsSpan(3 * d, 2 * d).ToArray().Sum(x => (double)x * x));
        Assert.Equal(0, sample);
        Assert.Equal(3 / finalNorm, final, 1e-6);
        Assert.Equal(final, rows.Error(dense, finalDiffers, d));

        var sampleDiffers = (float[])dense.Clone();
        sampleDiffers[d] -= 2;
        var sampleNorm = Math.Sqrt(dense.AsSpan(0, 3 * d).ToArray().Sum(x => (double)x * x));
        Assert.Equal(2 / sampleNorm, rows.Error(dense, sampleDiffers, d), 1e-6);

        var sampleOnly = ScoringRows.Sample([0, 10, 20]);
        Assert.Equal(0, sampleOnly.Error(dense.AsSpan(0, 3 * d), finalDiffers.AsSpan(0, 3 * d), d));
        Assert.Throws<ArgumentException>(() => rows.Error(dense, dense.AsSpan(0, 3 * d), d));
    }

    /// <summary>
    /// A retrieval head (planted: sinks and a local band, and a last row that puts nearly all its mass on one
    /// distant key, as a needle-reading head does at the question's end): scored on a row sample alone, the
    /// search picks a candidate whose index drops that key for the last row; with the final rows scored as
    /// their own group it picks one that covers it, whose last-row output is less than half as far from dense.
    /// </summary>
    [Fact]
    public void Final_rows_keep_a_retrieval_heads_distant_key()
    {
        var inputs = SyntheticAttentionInputs.Create(
            new SyntheticPatternOptions { Tokens = Tokens, Seed = 31, SinkKeys = 4, NeedleColumns = 0, SlashPeriod = 4 * Tokens, TaperSlashes = true });
        var span = inputs.Span;
        var d = span.HeadDim;
        const int Needle = 700;
        var last = Tokens - 1;
        var query = (float[])inputs.Query.Clone();
        var needleKey = inputs.Keys.AsSpan(Needle * d, d);
        var keyNormSquared = needleKey.ToArray().Sum(x => (double)x * x);
        for (var i = 0; i < d; i++)
        {
            // logit 30 on the needle after 1/sqrt(d): far above the planted peaks (8)
            query[(last * d) + i] = (float)(needleKey[i] * 30 * Math.Sqrt(d) / keyNormSquared);
        }

        var candidates = PatternSearchSpace.Candidates(Tokens);
        var sample = QueryRowSample.Draw(Tokens, 256, seed: 7);

        var (sampledBest, sampledScores) = HeadPatternSearch.Select(candidates, query, inputs.Keys, inputs.Values, span, 0, ScoringRows.Sample(sample));
        var (finalBest, finalScores) = HeadPatternSearch.Select(
            candidates, query, inputs.Keys, inputs.Values, span, 0, ScoringRows.Of(sample, Tokens, VerticalSlashEstimator.LastQueries));

        var table = string.Join("; ", candidates.Select((c, i) => $"{c}: sample {sampledScores[i].RelativeError:E2}, with final rows {finalScores[i].RelativeError:E2}"));
        Assert.False(CoversForLastRow(candidates[sampledBest], query, inputs, Needle), $"the sample alone picked {candidates[sampledBest]}, which keeps the needle: the test proves nothing ({table})");
        Assert.True(CoversForLastRow(candidates[finalBest], query, inputs, Needle), $"with final rows the search picked {candidates[finalBest]}, which drops the needle ({table})");

        var sampledError = LastRowError(candidates[sampledBest], query, inputs);
        var finalError = LastRowError(candidates[finalBest], query, inputs);
        Assert.True(finalError < sampledError / 2, $"last-row error {finalError:E2} with final rows against {sampledError:E2} without ({table})");
    }

    /// <summary>Relative L2 of the last row's output under <paramref name="pattern"/> against dense.</summary>
    private static double LastRowError(HeadPattern pattern, float[] query, SyntheticAttentionInputs inputs)
    {
        var span = inputs.Span;
        int[] lastRow = [span.SpanLength - 1];
        var dense = new float[span.HeadDim];
        var sparse = new float[span.HeadDim];
        Array.Fill(dense, float.NaN);
        Array.Fill(sparse, float.NaN);
        SparseHeadPlan.DenseOf(span).AttendRows(query, inputs.Keys, inputs.Values, lastRow, dense, 0);
        SparseHeadPlan.Estimate(pattern, query, inputs.Keys, span, 0).AttendRows(query, inputs.Keys, inputs.Values, lastRow, sparse, 0);
        return HeadFidelity.RelativeL2(dense, sparse);
    }

    private static bool CoversForLastRow(HeadPattern pattern, float[] query, SyntheticAttentionInputs inputs, int key)
    {
        var mask = new bool[inputs.Span.KeyLength];
        SparseHeadPlan.Estimate(pattern, query, inputs.Keys, inputs.Span, 0).MarkCoveredKeys(inputs.Span.SpanLength - 1, mask);
        return mask[key];
    }
}
