using MInference.Kernels.Sparse;

namespace MInference.Kernels.Tests.Sparse;

public class SparseAttentionCpuTests
{
    internal const int QueryHeads = 4;
    internal const int KeyValueHeads = 2;
    internal const int HeadDim = 16;

    /// <summary>
    /// VS attention with an estimated (sparse) index equals double-precision attention restricted to the
    /// covered set, that mask built straight from the index's ranges (causally trimmed) and columns; for
    /// every GQA head, whole prompts and ragged chunks, NaN-poisoned outputs fully overwritten.
    /// </summary>
    [Theory]
    [InlineData(0, 301, 61)]
    [InlineData(173, 150, 62)]
    [InlineData(128, 64, 63)]
    [InlineData(250, 9, 64)]
    public void VerticalSlash_equals_dense_attention_on_the_covered_set(int spanStart, int spanLength, int seed)
    {
        var (span, query, keys, values, output) = Inputs(spanStart, spanLength, seed);
        for (var head = 0; head < QueryHeads; head++)
        {
            var selection = VerticalSlashEstimator.Estimate(query, keys, span, head, 35, 60);
            var index = VerticalSlashBlockIndex.Build(selection);
            Assert.True(index.CoveredPairs() < SparseCoverage.CausalPairsOf(spanStart, spanLength), "the index should be sparse");
            SparseAttentionCpu.VerticalSlash(query, keys, values, output, span, head, index);
            var mask = CoveredMask(index);
            var expected = SparseTestData.MaskedAttention(query, keys, values, span, head, (r, k) => mask[r].Contains(k));
            SparseTestData.AssertHeadMatches(expected, output, span, head);
        }

        Assert.All(output, x => Assert.True(float.IsFinite(x)));
    }

    /// <summary>With budgets covering every column and offset, VS attention equals dense causal attention.</summary>
    [Theory]
    [InlineData(0, 140, 71)]
    [InlineData(90, 111, 72)]
    public void VerticalSlash_with_full_budgets_equals_dense_causal_attention(int spanStart, int spanLength, int seed)
    {
        var (span, query, keys, values, output) = Inputs(spanStart, spanLength, seed);
        for (var head = 0; head < QueryHeads; head++)
        {
            var selection = VerticalSlashEstimator.Estimate(query, keys, span, head, int.MaxValue, int.MaxValue);
            SparseAttentionCpu.VerticalSlash(query, keys, values, output, span, head, VerticalSlashBlockIndex.Build(selection));
            var expected = SparseTestData.MaskedAttention(query, keys, values, span, head, (r, k) => k <= spanStart + r);
            SparseTestData.AssertHeadMatches(expected, output, span, head);
        }
    }

    /// <summary>
    /// Block-sparse attention equals double-precision attention over the chosen key blocks (causal),
    /// and with a top-k covering every block it equals dense causal attention.
    /// </summary>
    [Theory]
    [InlineData(0, 333, 2, 81)]
    [InlineData(77, 200, 1, 82)]
    [InlineData(64, 130, 1000, 83)]
    public void BlockSparse_equals_dense_attention_on_the_chosen_blocks(int spanStart, int spanLength, int topBlocks, int seed)
    {
        var (span, query, keys, values, output) = Inputs(spanStart, spanLength, seed);
        for (var head = 0; head < QueryHeads; head++)
        {
            var index = BlockSparseEstimator.Estimate(query, keys, span, head, topBlocks);
            SparseAttentionCpu.BlockSparse(query, keys, values, output, span, head, index);
            var expected = SparseTestData.MaskedAttention(query, keys, values, span, head, (r, k) =>
            {
                var b = r / 64;
                var blocks = index.KeyBlocks[index.BlockOffsets[b]..index.BlockOffsets[b + 1]];
                return k <= spanStart + r && blocks.Contains(k / 64);
            });
            SparseTestData.AssertHeadMatches(expected, output, span, head);
            if (topBlocks >= span.KeyLength)
            {
                var dense = SparseTestData.MaskedAttention(query, keys, values, span, head, (r, k) => k <= spanStart + r);
                SparseTestData.AssertHeadMatches(dense, output, span, head);
            }
        }

        Assert.All(output, x => Assert.True(float.IsFinite(x)));
    }

    /// <summary>
    /// A-shape attention equals double-precision attention over the sink keys plus the local window,
    /// including where the two overlap (keys counted once), and equals dense causal when the sink covers all.
    /// </summary>
    [Theory]
    [InlineData(0, 250, 10, 40, 91)]
    [InlineData(120, 99, 50, 80, 92)]
    [InlineData(30, 70, 7, 1, 93)]
    [InlineData(10, 60, 1000, 5, 94)]
    public void AShape_equals_dense_attention_on_sink_plus_window(int spanStart, int spanLength, int initKeys, int localKeys, int seed)
    {
        var (span, query, keys, values, output) = Inputs(spanStart, spanLength, seed);
        for (var head = 0; head < QueryHeads; head++)
        {
            SparseAttentionCpu.AShape(query, keys, values, output, span, head, initKeys, localKeys);
            var expected = SparseTestData.MaskedAttention(query, keys, values, span, head, (r, k) =>
            {
                var p = spanStart + r;
                return k <= p && (k < initKeys || p - k < localKeys);
            });
            SparseTestData.AssertHeadMatches(expected, output, span, head);
        }

        Assert.All(output, x => Assert.True(float.IsFinite(x)));
    }

    /// <summary>An index built for one span is refused for another, naming both spans.</summary>
    [Fact]
    public void Index_for_another_span_is_refused()
    {
        var (span, query, keys, values, output) = Inputs(64, 64, 99);
        var index = VerticalSlashBlockIndex.Build(new VerticalSlashSelection(0, 128, [0], [0]));
        var error = Assert.Throws<ArgumentException>(() => SparseAttentionCpu.VerticalSlash(query, keys, values, output, span, 0, index));
        Assert.Contains("[0, 128)", error.Message, StringComparison.Ordinal);
        Assert.Contains("[64, 128)", error.Message, StringComparison.Ordinal);
    }

    private static (SparseSpan Span, float[] Query, float[] Keys, float[] Values, float[] Output) Inputs(int spanStart, int spanLength, int seed)
    {
        var random = new Random(seed);
        var span = new SparseSpan(QueryHeads, KeyValueHeads, HeadDim, spanStart, spanLength);

        // Amplitude 2 gives peaked softmaxes, so a wrongly included or missed key shows.
        return (span,
            SparseTestData.Random(random, spanLength, span.QueryStride, 2f),
            SparseTestData.Random(random, span.KeyLength + 7, span.KeyValueStride, 2f),
            SparseTestData.Random(random, span.KeyLength + 7, span.KeyValueStride),
            SparseTestData.Poisoned(spanLength * span.QueryStride));
    }

    /// <summary>Per span row, the keys the index covers: its block's ranges up to the row's position, plus its columns.</summary>
    private static HashSet<int>[] CoveredMask(VerticalSlashBlockIndex index)
    {
        var mask = new HashSet<int>[index.SpanLength];
        for (var r = 0; r < index.SpanLength; r++)
        {
            var b = r / 64;
            var p = index.SpanStart + r;
            mask[r] = [];
            for (var i = index.RangeOffsets[b]; i < index.RangeOffsets[b + 1]; i++)
            {
                for (var k = index.RangeBounds[2 * i]; k < index.RangeBounds[(2 * i) + 1] && k <= p; k++)
                {
                    mask[r].Add(k);
                }
            }

            for (var i = index.ColumnOffsets[b]; i < index.ColumnOffsets[b + 1]; i++)
            {
                mask[r].Add(index.Columns[i]);
            }
        }

        return mask;
    }
}
