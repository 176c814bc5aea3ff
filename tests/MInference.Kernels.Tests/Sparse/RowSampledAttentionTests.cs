using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Tests.Sparse;

public class RowSampledAttentionTests
{
    public static TheoryData<string> Patterns => ["dense", "vs", "block", "a-shape"];

    /// <summary>
    /// For every pattern, on a chunked GQA span with fresh random inputs, attending a sample of rows
    /// gives bit for bit the rows that attending the whole span writes (same tiles, same order), so
    /// scores computed on a sample are exact for the sampled rows.
    /// </summary>
    [Theory]
    [MemberData(nameof(Patterns))]
    public void Sampled_rows_equal_the_full_span_rows(string name)
    {
        var random = new Random(name.Length * 7919);
        var span = new SparseSpan(4, 2, 32, 300, 500);
        var (query, keys, values) = SparseTestData.RandomInputs(random, span);
        var pattern = name switch
        {
            "dense" => HeadPattern.Dense,
            "vs" => HeadPattern.VerticalSlash(40, 60),
            "block" => HeadPattern.BlockSparse(3),
            _ => HeadPattern.AShape(16, 100),
        };
        const int head = 3;
        var plan = SparseHeadPlan.Estimate(pattern, query, keys, span, head);
        var full = SparseTestData.Poisoned(query.Length);
        plan.Attend(query, keys, values, full, head);
        var rows = QueryRowSample.Draw(span.SpanLength, 37, seed: 5);
        var sampled = SparseTestData.Poisoned(rows.Length * span.HeadDim);

        plan.AttendRows(query, keys, values, rows, sampled, head);

        Assert.Equal(name == "dense" ? SparsePatternKind.Dense : pattern.Kind, plan.Kind);
        for (var i = 0; i < rows.Length; i++)
        {
            var expected = full.AsSpan((rows[i] * span.QueryStride) + (head * span.HeadDim), span.HeadDim).ToArray();
            Assert.Equal(expected, sampled.AsSpan(i * span.HeadDim, span.HeadDim).ToArray());
        }
    }

    /// <summary>The sample is ascending, distinct, one row per equal stratum, the same for a seed, all rows when asked for as many.</summary>
    [Fact]
    public void Row_sample_is_stratified_and_deterministic()
    {
        var rows = QueryRowSample.Draw(1000, 64, seed: 3);
        Assert.Equal(64, rows.Length);
        for (var i = 0; i < rows.Length; i++)
        {
            Assert.InRange(rows[i], 1000 * i / 64, (1000 * (i + 1) / 64) - 1);
        }

        Assert.Equal(rows, QueryRowSample.Draw(1000, 64, seed: 3));
        Assert.NotEqual(rows, QueryRowSample.Draw(1000, 64, seed: 4));
        Assert.Equal(Enumerable.Range(0, 10), QueryRowSample.Draw(10, 64, seed: 3));
    }
}
