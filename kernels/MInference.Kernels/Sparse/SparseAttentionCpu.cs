using System.Numerics.Tensors;

namespace MInference.Kernels.Sparse;

/// <summary>
/// Sparse attention on the CPU, one query head per call, visiting only the keys an index selects:
/// its work is the sparse work. Each query row runs one online softmax (f32, scale 1/sqrt(d)) over
/// 64-key tiles, the shape the GPU kernels have: for Vertical-Slash first the block's ranges with the
/// causal mask, then its gathered columns; for Block-Sparse the chosen key blocks with the causal mask;
/// for A-shape the sink keys and then the local window, never a key twice. Only the head's
/// <c>HeadDim</c> columns of <c>output</c> are written. Buffers and GQA as in <see cref="SparseSpan"/>.
/// </summary>
public static class SparseAttentionCpu
{
    /// <summary>Dense causal attention through the same row loop: each query visits keys <c>[0, position]</c>.</summary>
    public static void DenseCausal(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in SparseSpan span, int queryHead)
    {
        span.ValidateInputs(queryHead, query, keys, values, output);
        var row = new RowSoftmax(span, queryHead);
        for (var r = 0; r < span.SpanLength; r++)
        {
            row.Reset(query, r);
            row.AddRange(keys, values, 0, span.SpanStart + r + 1);
            row.WriteTo(output, r);
        }
    }

    public static void VerticalSlash(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in SparseSpan span, int queryHead, VerticalSlashBlockIndex index)
    {
        span.ValidateInputs(queryHead, query, keys, values, output);
        CheckIndexSpan(span, index.SpanStart, index.SpanLength);
        var row = new RowSoftmax(span, queryHead);
        for (var b = 0; b < index.QueryBlocks; b++)
        {
            var ranges = index.RangeBounds.AsSpan(2 * index.RangeOffsets[b], 2 * (index.RangeOffsets[b + 1] - index.RangeOffsets[b]));
            var columns = index.Columns.AsSpan(index.ColumnOffsets[b], index.ColumnOffsets[b + 1] - index.ColumnOffsets[b]);
            foreach (var r in BlockRows(span, b))
            {
                var position = span.SpanStart + r;
                row.Reset(query, r);
                for (var i = 0; i < ranges.Length; i += 2)
                {
                    row.AddRange(keys, values, ranges[i], Math.Min(ranges[i + 1], position + 1));
                }

                row.AddColumns(keys, values, columns);
                row.WriteTo(output, r);
            }
        }
    }

    public static void BlockSparse(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in SparseSpan span, int queryHead, BlockSparseIndex index)
    {
        span.ValidateInputs(queryHead, query, keys, values, output);
        CheckIndexSpan(span, index.SpanStart, index.SpanLength);
        var row = new RowSoftmax(span, queryHead);
        for (var b = 0; b < index.QueryBlocks; b++)
        {
            var blocks = index.KeyBlocks.AsSpan(index.BlockOffsets[b], index.BlockOffsets[b + 1] - index.BlockOffsets[b]);
            foreach (var r in BlockRows(span, b))
            {
                var position = span.SpanStart + r;
                row.Reset(query, r);
                foreach (var k in blocks)
                {
                    var start = k * SparseSpan.KeyBlock;
                    row.AddRange(keys, values, start, Math.Min(start + SparseSpan.KeyBlock, position + 1));
                }

                row.WriteTo(output, r);
            }
        }
    }

    /// <summary>
    /// A query at position p attends to the sink keys <c>[0, min(initKeys, p + 1))</c> and the local
    /// window of <paramref name="localKeys"/> keys ending at itself, <c>[p - localKeys + 1, p]</c>,
    /// minus the keys the sink already covered.
    /// </summary>
    public static void AShape(
        ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output,
        in SparseSpan span, int queryHead, int initKeys, int localKeys)
    {
        span.ValidateInputs(queryHead, query, keys, values, output);
        ArgumentOutOfRangeException.ThrowIfLessThan(initKeys, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(localKeys, 1);
        var row = new RowSoftmax(span, queryHead);
        for (var r = 0; r < span.SpanLength; r++)
        {
            var position = span.SpanStart + r;
            row.Reset(query, r);
            var sinkEnd = Math.Min(initKeys, position + 1);
            row.AddRange(keys, values, 0, sinkEnd);
            row.AddRange(keys, values, Math.Max(sinkEnd, position - localKeys + 1), position + 1);
            row.WriteTo(output, r);
        }
    }

    private static void CheckIndexSpan(in SparseSpan span, int indexStart, int indexLength)
    {
        if (indexStart != span.SpanStart || indexLength != span.SpanLength)
        {
            throw new ArgumentException(
                $"index was built for span [{indexStart}, {indexStart + indexLength}) but the call is for [{span.SpanStart}, {span.KeyLength})");
        }
    }

    private static IEnumerable<int> BlockRows(SparseSpan span, int block)
        => Enumerable.Range(block * SparseSpan.QueryBlock, Math.Min(SparseSpan.QueryBlock, span.SpanLength - (block * SparseSpan.QueryBlock)));

    /// <summary>One query row's online softmax state, fed 64-key tiles; rescales once per tile like the kernels.</summary>
    private sealed class RowSoftmax
    {
        private readonly SparseSpan _span;
        private readonly int _queryOffset;
        private readonly int _keyOffset;
        private readonly float[] _query;
        private readonly float[] _accumulator;
        private readonly float[] _tile = new float[SparseSpan.KeyBlock];
        private float _max;
        private float _sum;

        public RowSoftmax(SparseSpan span, int queryHead)
        {
            _span = span;
            _queryOffset = queryHead * span.HeadDim;
            _keyOffset = span.KeyValueHeadOf(queryHead) * span.HeadDim;
            _query = new float[span.HeadDim];
            _accumulator = new float[span.HeadDim];
        }

        public void Reset(ReadOnlySpan<float> query, int row)
        {
            query.Slice((row * _span.QueryStride) + _queryOffset, _span.HeadDim).CopyTo(_query);
            Array.Clear(_accumulator);
            _max = float.NegativeInfinity;
            _sum = 0f;
        }

        /// <summary>Keys <c>[start, end)</c>; an empty or inverted interval adds nothing.</summary>
        public void AddRange(ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int start, int end)
        {
            for (var tileStart = start; tileStart < end; tileStart += SparseSpan.KeyBlock)
            {
                var count = Math.Min(SparseSpan.KeyBlock, end - tileStart);
                for (var i = 0; i < count; i++)
                {
                    _tile[i] = Score(keys, tileStart + i);
                }

                Rescale(count);
                for (var i = 0; i < count; i++)
                {
                    Accumulate(values, tileStart + i, _tile[i]);
                }
            }
        }

        public void AddColumns(ReadOnlySpan<float> keys, ReadOnlySpan<float> values, ReadOnlySpan<int> columns)
        {
            for (var tileStart = 0; tileStart < columns.Length; tileStart += SparseSpan.KeyBlock)
            {
                var count = Math.Min(SparseSpan.KeyBlock, columns.Length - tileStart);
                for (var i = 0; i < count; i++)
                {
                    _tile[i] = Score(keys, columns[tileStart + i]);
                }

                Rescale(count);
                for (var i = 0; i < count; i++)
                {
                    Accumulate(values, columns[tileStart + i], _tile[i]);
                }
            }
        }

        /// <summary>Writes accumulator / sum; a row that saw no key (impossible for valid indices) gets zeros.</summary>
        public void WriteTo(Span<float> output, int row)
        {
            var destination = output.Slice((row * _span.QueryStride) + _queryOffset, _span.HeadDim);
            if (_sum > 0f)
            {
                TensorPrimitives.Multiply(_accumulator, 1f / _sum, destination);
            }
            else
            {
                destination.Clear();
            }
        }

        private float Score(ReadOnlySpan<float> keys, int key)
            => TensorPrimitives.Dot(_query, keys.Slice((key * _span.KeyValueStride) + _keyOffset, _span.HeadDim)) * _span.Scale;

        private void Rescale(int count)
        {
            var tileMax = TensorPrimitives.Max(_tile.AsSpan(0, count));
            if (tileMax > _max)
            {
                var correction = MathF.Exp(_max - tileMax);
                TensorPrimitives.Multiply(_accumulator, correction, _accumulator);
                _sum *= correction;
                _max = tileMax;
            }
        }

        private void Accumulate(ReadOnlySpan<float> values, int key, float score)
        {
            var weight = MathF.Exp(score - _max);
            _sum += weight;
            TensorPrimitives.MultiplyAdd(values.Slice((key * _span.KeyValueStride) + _keyOffset, _span.HeadDim), weight, _accumulator, _accumulator);
        }
    }
}
