using System.Numerics.Tensors;

namespace MInference.Kernels.Sparse;

/// <summary>One query row's online softmax state, fed 64-key tiles; rescales once per tile like the kernels.</summary>
internal sealed class RowSoftmax
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

    /// <summary>Writes accumulator / sum into the head's columns of span row <paramref name="row"/> of <paramref name="output"/>.</summary>
    public void WriteTo(Span<float> output, int row)
        => WriteHead(output.Slice((row * _span.QueryStride) + _queryOffset, _span.HeadDim));

    /// <summary>Writes accumulator / sum into <paramref name="destination"/> (HeadDim values); a row that saw no key (impossible for valid indices) gets zeros.</summary>
    public void WriteHead(Span<float> destination)
    {
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
