namespace MInference.Kernels.Sparse;

/// <summary>
/// What Vertical-Slash estimation chose for one query head and one span: absolute key columns and
/// slash offsets <c>o = query_pos - key_pos</c>. Both arrays are strictly ascending, inside
/// <c>[0, KeyLength)</c>. Offset 0 (each query's own key) must be among the offsets: the block
/// conversion relies on it to cover a block's own keys. Convert it with
/// <see cref="VerticalSlashBlockIndex.Build"/> for the attention kernels.
/// </summary>
public sealed class VerticalSlashSelection
{
    public VerticalSlashSelection(int spanStart, int spanLength, int[] columns, int[] offsets)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(spanStart);
        ArgumentOutOfRangeException.ThrowIfLessThan(spanLength, 1);
        SpanStart = spanStart;
        SpanLength = spanLength;
        CheckAscending(columns, KeyLength, "column");
        CheckAscending(offsets, KeyLength, "slash offset");
        if (offsets.Length == 0 || offsets[0] != 0)
        {
            throw new ArgumentException("slash offsets must include 0 (each query's own key)", nameof(offsets));
        }

        Columns = columns;
        Offsets = offsets;
    }

    public int SpanStart { get; }

    public int SpanLength { get; }

    public int KeyLength => SpanStart + SpanLength;

    /// <summary>Selected absolute key columns, ascending.</summary>
    public int[] Columns { get; }

    /// <summary>Selected diagonal offsets (query position minus key position), ascending.</summary>
    public int[] Offsets { get; }

    private static void CheckAscending(int[] values, int limit, string what)
    {
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i] < 0 || values[i] >= limit)
            {
                throw new ArgumentException($"{what} {values[i]} at index {i} is outside [0, {limit})");
            }

            if (i > 0 && values[i] <= values[i - 1])
            {
                throw new ArgumentException($"{what}s must be strictly ascending: {values[i - 1]} then {values[i]} at index {i}");
            }
        }
    }
}
