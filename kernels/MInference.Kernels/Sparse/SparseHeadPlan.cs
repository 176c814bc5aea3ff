using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>
/// One query head's pattern made concrete for one span: the index estimated from the span's Q/K
/// (VS and block-sparse), the static A-shape window, or dense when the pattern would select every
/// causal key. Separating estimation from attention lets the fidelity report and the search ask which
/// keys were covered without attending twice.
/// </summary>
public sealed class SparseHeadPlan
{
    private readonly VerticalSlashBlockIndex? _verticalSlash;
    private readonly BlockSparseIndex? _blockSparse;
    private readonly int _initKeys;
    private readonly int _localKeys;

    private SparseHeadPlan(SparseSpan span, SparsePatternKind kind, VerticalSlashBlockIndex? verticalSlash, BlockSparseIndex? blockSparse, int initKeys, int localKeys)
    {
        Span = span;
        Kind = kind;
        _verticalSlash = verticalSlash;
        _blockSparse = blockSparse;
        _initKeys = initKeys;
        _localKeys = localKeys;
    }

    public SparseSpan Span { get; }

    /// <summary>The pattern that runs: the configured one, or dense when it degenerated to it.</summary>
    public SparsePatternKind Kind { get; }

    /// <summary>
    /// True when <paramref name="pattern"/> over <paramref name="keyLength"/> keys would select every
    /// causal key (VS budget at least the key count after clamping, top-k blocks covering every key
    /// block, sink plus window at least the key count), so its index would be pure overhead.
    /// </summary>
    public static bool SelectsEverything(HeadPattern pattern, int keyLength) => pattern.Kind switch
    {
        SparsePatternKind.Dense => true,
        SparsePatternKind.VerticalSlash => VerticalSlashEstimator.ClampBudgets(pattern.Verticals, pattern.Slashes, keyLength) is var (v, s)
            && (v >= keyLength || s >= keyLength),
        SparsePatternKind.BlockSparse => (long)pattern.TopBlocks * SparseSpan.KeyBlock >= keyLength,
        SparsePatternKind.AShape => (long)pattern.InitKeys + pattern.LocalKeys >= keyLength,
        _ => throw new ArgumentOutOfRangeException(nameof(pattern), pattern.Kind, "unknown pattern kind"),
    };

    /// <summary>The dense causal plan of a span: every query sees keys <c>[0, position]</c>.</summary>
    public static SparseHeadPlan DenseOf(in SparseSpan span)
    {
        span.Validate(0);
        return new SparseHeadPlan(span, SparsePatternKind.Dense, null, null, 0, 0);
    }

    /// <summary>Estimates the index of <paramref name="pattern"/> for <paramref name="queryHead"/> over the span.</summary>
    public static SparseHeadPlan Estimate(HeadPattern pattern, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, in SparseSpan span, int queryHead)
    {
        span.ValidateInputs(queryHead, query, keys);
        if (SelectsEverything(pattern, span.KeyLength))
        {
            return new SparseHeadPlan(span, SparsePatternKind.Dense, null, null, 0, 0);
        }

        return pattern.Kind switch
        {
            SparsePatternKind.VerticalSlash => new SparseHeadPlan(
                span,
                SparsePatternKind.VerticalSlash,
                VerticalSlashBlockIndex.Build(VerticalSlashEstimator.Estimate(query, keys, span, queryHead, pattern.Verticals, pattern.Slashes)),
                null,
                0,
                0),
            SparsePatternKind.BlockSparse => new SparseHeadPlan(
                span, SparsePatternKind.BlockSparse, null, BlockSparseEstimator.Estimate(query, keys, span, queryHead, pattern.TopBlocks), 0, 0),
            _ => new SparseHeadPlan(span, SparsePatternKind.AShape, null, null, pattern.InitKeys, pattern.LocalKeys),
        };
    }

    /// <summary>
    /// Attends over the covered keys; writes <paramref name="queryHead"/>'s columns of <paramref name="output"/>.
    /// The rows are the ones <see cref="SparseAttentionCpu"/>'s entry point for <see cref="Kind"/> computes (same
    /// row functions): the plan's index was built for its own span and its A-shape sizes are positive, so
    /// only the buffers need checking here.
    /// </summary>
    public void Attend(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output, int queryHead)
    {
        var span = Span;
        span.ValidateInputs(queryHead, query, keys, values, output);
        var row = new RowSoftmax(span, queryHead);
        for (var r = 0; r < span.SpanLength; r++)
        {
            AttendRow(row, query, keys, values, r);
            row.WriteTo(output, r);
        }
    }

    /// <summary>
    /// Attends only the span rows <paramref name="rows"/> and writes each row's head output, <c>HeadDim</c>
    /// values, to <c>headOutput[i * HeadDim ..]</c> for <c>rows[i]</c>: the same values, bit for bit, that
    /// <see cref="Attend"/> writes for those rows (same tiles, same order), at the cost of those rows only.
    /// The search and the large-input tests score on a row sample this way: exact for the rows sampled.
    /// </summary>
    public void AttendRows(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, ReadOnlySpan<int> rows, Span<float> headOutput, int queryHead)
    {
        var span = Span;
        span.ValidateInputs(queryHead, query, keys);
        if (values.Length < (long)span.KeyLength * span.KeyValueStride)
        {
            throw new ArgumentException(
                $"value cache holds {values.Length} values, fewer than {span.KeyLength} rows x {span.KeyValueStride}", nameof(values));
        }

        var d = span.HeadDim;
        if (headOutput.Length != (long)rows.Length * d)
        {
            throw new ArgumentException($"head output holds {headOutput.Length} values, expected {rows.Length} rows x {d}", nameof(headOutput));
        }

        var row = new RowSoftmax(span, queryHead);
        for (var i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            if ((uint)r >= (uint)span.SpanLength)
            {
                throw new ArgumentOutOfRangeException(nameof(rows), r, $"row {r} at index {i} is outside the span's [0, {span.SpanLength}) rows");
            }

            AttendRow(row, query, keys, values, r);
            row.WriteHead(headOutput.Slice(i * d, d));
        }
    }

    /// <summary>
    /// Sets <c>mask[k]</c> for every key span row <paramref name="row"/> attends to (causal mask
    /// applied) and clears the rest of <c>mask[0 .. KeyLength)</c>.
    /// </summary>
    public void MarkCoveredKeys(int row, Span<bool> mask)
    {
        var position = Span.SpanStart + row;
        var visible = mask[..(position + 1)];
        mask[..Span.KeyLength].Clear();
        var block = row / SparseSpan.QueryBlock;
        switch (Kind)
        {
            case SparsePatternKind.VerticalSlash:
                var index = _verticalSlash!;
                for (var i = index.RangeOffsets[block]; i < index.RangeOffsets[block + 1]; i++)
                {
                    var start = index.RangeBounds[2 * i];
                    var end = Math.Min(index.RangeBounds[(2 * i) + 1], position + 1);
                    if (end > start)
                    {
                        visible[start..end].Fill(true);
                    }
                }

                for (var i = index.ColumnOffsets[block]; i < index.ColumnOffsets[block + 1]; i++)
                {
                    visible[index.Columns[i]] = true;
                }

                break;
            case SparsePatternKind.BlockSparse:
                var blocks = _blockSparse!;
                for (var i = blocks.BlockOffsets[block]; i < blocks.BlockOffsets[block + 1]; i++)
                {
                    var start = blocks.KeyBlocks[i] * SparseSpan.KeyBlock;
                    visible[start..Math.Min(start + SparseSpan.KeyBlock, position + 1)].Fill(true);
                }

                break;
            case SparsePatternKind.AShape:
                var sinkEnd = Math.Min(_initKeys, position + 1);
                visible[..sinkEnd].Fill(true);
                visible[Math.Max(sinkEnd, position - _localKeys + 1)..].Fill(true);
                break;
            default:
                visible.Fill(true);
                break;
        }
    }

    /// <summary>(query, key) pairs computed after the causal mask: the work of this plan.</summary>
    public long CoveredPairs() => Kind switch
    {
        SparsePatternKind.VerticalSlash => _verticalSlash!.CoveredPairs(),
        SparsePatternKind.BlockSparse => _blockSparse!.CoveredPairs(),
        SparsePatternKind.AShape => SpanAttentionCost.CappedPairs(Span.SpanStart, Span.SpanLength, (long)_initKeys + _localKeys),
        _ => SparseCoverage.CausalPairsOf(Span.SpanStart, Span.SpanLength),
    };

    /// <summary>Runs span row <paramref name="r"/> of this plan's pattern into <paramref name="row"/>.</summary>
    private void AttendRow(RowSoftmax row, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int r)
    {
        switch (Kind)
        {
            case SparsePatternKind.VerticalSlash:
                SparseAttentionCpu.VerticalSlashRow(row, query, keys, values, Span, _verticalSlash!, r);
                break;
            case SparsePatternKind.BlockSparse:
                SparseAttentionCpu.BlockSparseRow(row, query, keys, values, Span, _blockSparse!, r);
                break;
            case SparsePatternKind.AShape:
                SparseAttentionCpu.AShapeRow(row, query, keys, values, Span, _initKeys, _localKeys, r);
                break;
            default:
                SparseAttentionCpu.DenseRow(row, query, keys, values, Span, r);
                break;
        }
    }
}
