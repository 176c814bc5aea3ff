using System.Numerics.Tensors;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>
/// How closely one head's sparse attention follows dense attention over one span.
/// <see cref="RelativeError"/> = ‖O_sparse − O_dense‖₂ / ‖O_dense‖₂ over the head's output;
/// <see cref="Recall"/> = the dense softmax mass that falls on the covered keys, averaged over the
/// span's rows (1 when nothing is dropped); <see cref="Density"/> = covered causal (q, k) pairs /
/// all causal pairs.
/// </summary>
public readonly record struct HeadFidelity(SparsePatternKind Kind, double RelativeError, double Recall, double Density, long CoveredPairs)
{
    /// <summary>The head's dense causal output, <c>[SpanLength, HeadDim]</c>: the reference every candidate is measured against.</summary>
    public static float[] DenseOutput(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, in SparseSpan span, int queryHead)
    {
        var output = new float[query.Length];
        SparseAttentionCpu.DenseCausal(query, keys, values, output, span, queryHead);
        return HeadColumns(output, span, queryHead);
    }

    /// <summary>Estimates <paramref name="pattern"/>, attends, and compares with <paramref name="denseHeadOutput"/> from <see cref="DenseOutput"/>.</summary>
    public static HeadFidelity Measure(
        HeadPattern pattern, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, ReadOnlySpan<float> denseHeadOutput,
        in SparseSpan span, int queryHead)
    {
        if (denseHeadOutput.Length != (long)span.SpanLength * span.HeadDim)
        {
            throw new ArgumentException(
                $"dense head output holds {denseHeadOutput.Length} values, expected {span.SpanLength} rows x {span.HeadDim}", nameof(denseHeadOutput));
        }

        var plan = SparseHeadPlan.Estimate(pattern, query, keys, span, queryHead);
        var output = new float[query.Length];
        plan.Attend(query, keys, values, output, queryHead);
        var sparse = HeadColumns(output, span, queryHead);
        var covered = plan.CoveredPairs();
        return new HeadFidelity(
            plan.Kind,
            RelativeL2(denseHeadOutput, sparse),
            MassRecall(plan, query, keys, span, queryHead, QueryRowSample.Draw(span.SpanLength, span.SpanLength, seed: 0)),
            (double)covered / SparseCoverage.CausalPairsOf(span.SpanStart, span.SpanLength),
            covered);
    }

    /// <summary>
    /// Like <see cref="Measure"/>, but error and recall over the span rows <paramref name="rows"/> only (dense
    /// and sparse computed exactly for those rows, see <see cref="SparseHeadPlan.AttendRows"/>); density is
    /// still counted over every row. Costs the sampled rows' attention instead of the whole span's.
    /// </summary>
    public static HeadFidelity MeasureRows(
        HeadPattern pattern, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, in SparseSpan span, int queryHead, ReadOnlySpan<int> rows)
    {
        if (rows.IsEmpty)
        {
            throw new ArgumentException("at least one query row must be measured", nameof(rows));
        }

        var dense = new float[rows.Length * span.HeadDim];
        var sparse = new float[dense.Length];
        SparseHeadPlan.DenseOf(span).AttendRows(query, keys, values, rows, dense, queryHead);
        var plan = SparseHeadPlan.Estimate(pattern, query, keys, span, queryHead);
        plan.AttendRows(query, keys, values, rows, sparse, queryHead);
        var covered = plan.CoveredPairs();
        return new HeadFidelity(
            plan.Kind,
            RelativeL2(dense, sparse),
            MassRecall(plan, query, keys, span, queryHead, rows),
            (double)covered / SparseCoverage.CausalPairsOf(span.SpanStart, span.SpanLength),
            covered);
    }

    /// <summary>‖actual − expected‖ / ‖expected‖ in f64; 0 when both are zero.</summary>
    public static double RelativeL2(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        if (expected.Length != actual.Length)
        {
            throw new ArgumentException($"{actual.Length} values compared with {expected.Length}", nameof(actual));
        }

        double difference = 0, norm = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            var delta = (double)actual[i] - expected[i];
            difference += delta * delta;
            norm += (double)expected[i] * expected[i];
        }

        return norm == 0 ? Math.Sqrt(difference) : Math.Sqrt(difference / norm);
    }

    private static double MassRecall(SparseHeadPlan plan, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, in SparseSpan span, int queryHead, ReadOnlySpan<int> rows)
    {
        if (plan.Kind == SparsePatternKind.Dense)
        {
            return 1;
        }

        var d = span.HeadDim;
        var keyOffset = span.KeyValueHeadOf(queryHead) * d;
        var mask = new bool[span.KeyLength];
        var scores = new float[span.KeyLength];
        double recallSum = 0;
        foreach (var r in rows)
        {
            var position = span.SpanStart + r;
            var q = query.Slice((r * span.QueryStride) + (queryHead * d), d);
            for (var k = 0; k <= position; k++)
            {
                scores[k] = TensorPrimitives.Dot(q, keys.Slice((k * span.KeyValueStride) + keyOffset, d)) * span.Scale;
            }

            var row = scores.AsSpan(0, position + 1);
            var max = TensorPrimitives.Max(row);
            plan.MarkCoveredKeys(r, mask);
            double total = 0, kept = 0;
            for (var k = 0; k <= position; k++)
            {
                var p = Math.Exp(row[k] - max);
                total += p;
                kept += mask[k] ? p : 0;
            }

            recallSum += kept / total;
        }

        return recallSum / rows.Length;
    }

    private static float[] HeadColumns(float[] output, in SparseSpan span, int queryHead)
    {
        var d = span.HeadDim;
        var head = new float[span.SpanLength * d];
        for (var r = 0; r < span.SpanLength; r++)
        {
            output.AsSpan((r * span.QueryStride) + (queryHead * d), d).CopyTo(head.AsSpan(r * d, d));
        }

        return head;
    }
}
