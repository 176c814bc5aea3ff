using System.Numerics.Tensors;

namespace MInference.Kernels.Sparse;

/// <summary>
/// Vertical-Slash index estimation (DESIGN section 4), for a whole prompt or a chunked span:
/// <list type="number">
/// <item>The span's last <see cref="LastQueries"/> queries (fewer if the span is shorter) score all keys
/// <c>[0, KeyLength)</c> with scale 1/sqrt(d), causally (a query at position p sees keys &lt;= p), and each
/// row is soft-maxed in f32.</item>
/// <item>Vertical score of column j = sum of the rows' probabilities at j; slash score of offset o =
/// sum over the rows of the probability at key <c>p - o</c>.</item>
/// <item>The first <see cref="SinkColumns"/> columns and offsets <c>[0, LocalOffsets)</c> score +infinity so
/// they are always kept (within the budget: with s = 50 that keeps offsets 0..49).</item>
/// <item>Budgets clamp to <c>v = min(N, max(v, 30))</c>, <c>s = min(N, max(s, 50))</c>, N = KeyLength; the
/// top v columns and top s offsets win, equal scores keeping the lower column or offset.</item>
/// </list>
/// Memory is one row of N scores plus the two N-long sums: the 64 x N matrix is never held.
/// </summary>
public static class VerticalSlashEstimator
{
    /// <summary>Queries at the end of the span that vote for columns and slashes.</summary>
    public const int LastQueries = 64;

    /// <summary>Attention-sink columns always kept.</summary>
    public const int SinkColumns = 30;

    /// <summary>Offsets 0 .. LocalOffsets-1 (the local band) always kept.</summary>
    public const int LocalOffsets = 100;

    /// <summary>Smallest vertical budget after clamping.</summary>
    public const int MinVerticals = 30;

    /// <summary>Smallest slash budget after clamping.</summary>
    public const int MinSlashes = 50;

    /// <summary>Selects the columns and slashes of <paramref name="queryHead"/> for the span.</summary>
    public static VerticalSlashSelection Estimate(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, in SparseSpan span, int queryHead, int verticals, int slashes)
    {
        span.ValidateInputs(queryHead, query, keys);
        ArgumentOutOfRangeException.ThrowIfLessThan(verticals, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slashes, 1);
        var keyLength = span.KeyLength;
        var columnScores = new float[keyLength];
        var slashScores = new float[keyLength];
        ComputeScores(query, keys, span, queryHead, columnScores, slashScores);

        columnScores.AsSpan(0, Math.Min(SinkColumns, keyLength)).Fill(float.PositiveInfinity);
        slashScores.AsSpan(0, Math.Min(LocalOffsets, keyLength)).Fill(float.PositiveInfinity);
        var (v, s) = ClampBudgets(verticals, slashes, keyLength);
        return new VerticalSlashSelection(span.SpanStart, span.SpanLength, TopK.Select(columnScores, v), TopK.Select(slashScores, s));
    }

    /// <summary>The budgets after MInference's clamp: <c>v = min(N, max(v, 30))</c>, <c>s = min(N, max(s, 50))</c>.</summary>
    public static (int Verticals, int Slashes) ClampBudgets(int verticals, int slashes, int keyLength)
        => (Math.Min(keyLength, Math.Max(verticals, MinVerticals)), Math.Min(keyLength, Math.Max(slashes, MinSlashes)));

    /// <summary>
    /// Column sums and diagonal sums of the last queries' softmax, before forcing and top-k.
    /// Both destinations hold KeyLength values; index o of <paramref name="slashScores"/> is offset o.
    /// </summary>
    internal static void ComputeScores(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, in SparseSpan span, int queryHead, Span<float> columnScores, Span<float> slashScores)
    {
        var d = span.HeadDim;
        var keyHeadOffset = span.KeyValueHeadOf(queryHead) * d;
        var scale = span.Scale;
        var rows = Math.Min(LastQueries, span.SpanLength);
        columnScores.Clear();
        slashScores.Clear();
        var row = new float[span.KeyLength];
        for (var r = span.SpanLength - rows; r < span.SpanLength; r++)
        {
            var position = span.SpanStart + r;
            var q = query.Slice((r * span.QueryStride) + (queryHead * d), d);
            var visible = row.AsSpan(0, position + 1);
            for (var j = 0; j <= position; j++)
            {
                visible[j] = TensorPrimitives.Dot(q, keys.Slice((j * span.KeyValueStride) + keyHeadOffset, d)) * scale;
            }

            var max = TensorPrimitives.Max(visible);
            TensorPrimitives.Subtract(visible, max, visible);
            TensorPrimitives.Exp(visible, visible);
            TensorPrimitives.Multiply(visible, 1f / TensorPrimitives.Sum(visible), visible);
            var columns = columnScores[..(position + 1)];
            TensorPrimitives.Add(columns, visible, columns);
            for (var j = 0; j <= position; j++)
            {
                slashScores[position - j] += visible[j];
            }
        }
    }
}
