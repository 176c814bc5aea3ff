using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;
using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Tests.Sparse;

public class CpuSparseAttentionTests
{
    private static readonly HeadPattern[] _mix =
    [
        HeadPattern.VerticalSlash(40, 60), HeadPattern.AShape(8, 40), HeadPattern.BlockSparse(2), HeadPattern.Dense,
        HeadPattern.VerticalSlash(30, 50), HeadPattern.BlockSparse(1), HeadPattern.AShape(1, 1), HeadPattern.VerticalSlash(1000, 6096),
    ];

    /// <summary>
    /// The backend op over a chunked span (queries [120, 320) against keys [0, 320), GQA 8/2) gives
    /// each head exactly what the per-head reference gives with that head's pattern, in parallel.
    /// </summary>
    [Fact]
    public void Backend_op_equals_the_per_head_reference()
    {
        var random = new Random(71);
        var span = new SparseSpan(8, 2, 16, 120, 200);
        var query = SparseTestData.Random(random, span.SpanLength, span.QueryStride, 2f);
        var keys = SparseTestData.Random(random, span.KeyLength + 30, span.KeyValueStride, 2f);
        var values = SparseTestData.Random(random, span.KeyLength + 30, span.KeyValueStride);
        var expected = SparseTestData.Poisoned(query.Length);
        for (var head = 0; head < span.QueryHeads; head++)
        {
            SparseHeadAttention.Run(_mix[head], query, keys, values, expected, span, head);
        }

        using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 2 });
        using var q = backend.Upload(query, span.SpanLength, span.QueryStride);
        using var k = backend.Upload(keys, span.KeyLength + 30, span.KeyValueStride);
        using var v = backend.Upload(values, span.KeyLength + 30, span.KeyValueStride);
        using var o = backend.Upload(SparseTestData.Poisoned(query.Length), span.SpanLength, span.QueryStride);
        backend.SparseAttention(new AttentionArguments(q, k, v, o, span.SpanStart, 8, 2, 16), _mix);
        var actual = new float[query.Length];
        backend.Download(o, actual);

        Assert.Equal(expected, actual);
    }

    /// <summary>A pattern list that does not match the query heads is rejected, naming both counts.</summary>
    [Fact]
    public void Wrong_pattern_count_is_rejected()
    {
        using var backend = new CpuBackend();
        using var q = backend.Upload(new float[4 * 32], 4, 32);
        using var k = backend.Upload(new float[4 * 16], 4, 16);
        using var v = backend.Upload(new float[4 * 16], 4, 16);
        using var o = backend.Allocate(4, 32);

        var error = Assert.Throws<ArgumentException>(() => backend.SparseAttention(new AttentionArguments(q, k, v, o, 0, 2, 1, 16), [HeadPattern.Dense]));
        Assert.Contains("1 head patterns given for 2 query heads", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// For every pattern kind, the covered-key mask a plan reports holds exactly its CoveredPairs keys
    /// over the span's rows and never a key past the query (causal); fidelity of a dense plan is exact.
    /// </summary>
    [Fact]
    public void Covered_mask_agrees_with_covered_pairs()
    {
        var random = new Random(72);
        var span = new SparseSpan(8, 2, 16, 64, 250);
        var (query, keys, values) = SparseTestData.RandomInputs(random, span);
        var mask = new bool[span.KeyLength];
        for (var head = 0; head < span.QueryHeads; head++)
        {
            var plan = SparseHeadPlan.Estimate(_mix[head], query, keys, span, head);
            long marked = 0;
            for (var r = 0; r < span.SpanLength; r++)
            {
                mask.AsSpan().Fill(true);
                plan.MarkCoveredKeys(r, mask);
                Assert.DoesNotContain(true, mask.AsSpan(span.SpanStart + r + 1).ToArray());
                marked += mask.Count(m => m);
            }

            Assert.Equal(plan.CoveredPairs(), marked);
        }

        var dense = HeadFidelity.DenseOutput(query, keys, values, span, 3);
        var fidelity = HeadFidelity.Measure(HeadPattern.Dense, query, keys, values, dense, span, 3);
        Assert.Equal((0.0, 1.0, 1.0), (fidelity.RelativeError, fidelity.Recall, fidelity.Density));
    }
}
