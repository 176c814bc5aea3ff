namespace MInference.Kernels.Sparse;

/// <summary>
/// The shape of one sparse attention or estimation call: the queries at absolute positions
/// <c>[SpanStart, SpanStart + SpanLength)</c> attend to the keys <c>[0, KeyLength)</c> with
/// <c>KeyLength = SpanStart + SpanLength</c>. A span with <c>SpanStart = 0</c> is the whole prompt.
/// <para>
/// Buffers are row-major f32, laid out like the CPU backend's tensors: the query span and the output
/// are <c>[SpanLength, QueryHeads * HeadDim]</c>; the key and value caches are
/// <c>[rows &gt;= KeyLength, KeyValueHeads * HeadDim]</c>, of which rows <c>[0, KeyLength)</c> are read.
/// Query head h reads KV head <c>h / (QueryHeads / KeyValueHeads)</c>; K/V are never expanded.
/// </para>
/// </summary>
public readonly record struct SparseSpan(int QueryHeads, int KeyValueHeads, int HeadDim, int SpanStart, int SpanLength)
{
    /// <summary>Query rows per block in every index this folder builds (and per CTA in the GPU kernels).</summary>
    public const int QueryBlock = 64;

    /// <summary>Key width of a range tile, a column tile and a key block.</summary>
    public const int KeyBlock = 64;

    public int KeyLength => SpanStart + SpanLength;

    public int QueryStride => QueryHeads * HeadDim;

    public int KeyValueStride => KeyValueHeads * HeadDim;

    /// <summary>64-row query blocks of the span; the last one holds the remainder rows.</summary>
    public int QueryBlocks => (SpanLength + QueryBlock - 1) / QueryBlock;

    /// <summary>The 1/sqrt(d) softmax scale.</summary>
    public float Scale => 1f / MathF.Sqrt(HeadDim);

    public int KeyValueHeadOf(int queryHead) => queryHead / (QueryHeads / KeyValueHeads);

    /// <summary>Checks the shape itself and the head number; throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public void Validate(int queryHead)
    {
        if (QueryHeads < 1 || KeyValueHeads < 1 || QueryHeads % KeyValueHeads != 0)
        {
            throw new ArgumentException(
                $"query heads {QueryHeads} must be a positive multiple of key/value heads {KeyValueHeads}");
        }

        if (HeadDim < 1)
        {
            throw new ArgumentException($"head dim {HeadDim} must be at least 1");
        }

        if (SpanStart < 0 || SpanLength < 1 || (long)SpanStart + SpanLength > int.MaxValue)
        {
            throw new ArgumentException(
                $"span [{SpanStart}, {(long)SpanStart + SpanLength}) must start at 0 or later, hold at least one query and end before {int.MaxValue}");
        }

        if ((uint)queryHead >= (uint)QueryHeads)
        {
            throw new ArgumentOutOfRangeException(nameof(queryHead), queryHead, $"query head {queryHead} outside [0, {QueryHeads})");
        }
    }

    /// <summary>Checks the query span and the key cache hold what this shape reads.</summary>
    public void ValidateInputs(int queryHead, ReadOnlySpan<float> query, ReadOnlySpan<float> keys)
    {
        Validate(queryHead);
        if (query.Length != (long)SpanLength * QueryStride)
        {
            throw new ArgumentException(
                $"query span holds {query.Length} values, expected {SpanLength} rows x {QueryStride} = {(long)SpanLength * QueryStride}");
        }

        if (keys.Length < (long)KeyLength * KeyValueStride)
        {
            throw new ArgumentException(
                $"key cache holds {keys.Length} values, fewer than {KeyLength} rows x {KeyValueStride} = {(long)KeyLength * KeyValueStride}");
        }
    }

    /// <summary>Also checks the value cache and the output.</summary>
    public void ValidateInputs(int queryHead, ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, Span<float> output)
    {
        ValidateInputs(queryHead, query, keys);
        if (values.Length < (long)KeyLength * KeyValueStride)
        {
            throw new ArgumentException(
                $"value cache holds {values.Length} values, fewer than {KeyLength} rows x {KeyValueStride} = {(long)KeyLength * KeyValueStride}");
        }

        if (output.Length != query.Length)
        {
            throw new ArgumentException($"output holds {output.Length} values, expected {query.Length} like the query span");
        }
    }
}
