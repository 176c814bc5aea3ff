namespace MInference.Kernels.Sparse;

/// <summary>
/// The key blocks each query block attends to under Block-Sparse attention. Query block b holds
/// span rows <c>[64 b, min(64 b + 64, SpanLength))</c> (absolute positions from <c>SpanStart + 64 b</c>);
/// key block k holds the absolute keys <c>[64 k, min(64 k + 64, KeyLength))</c>.
/// <para>Layout (plain int arrays, CSR by query block, copied to the GPU unchanged):
/// <see cref="BlockOffsets"/>, length QueryBlocks + 1, and <see cref="KeyBlocks"/>: block b attends to key
/// blocks <c>KeyBlocks[BlockOffsets[b] .. BlockOffsets[b + 1])</c>, ascending, each starting at or before the
/// block's last position; the block(s) holding the query block's own positions are always among them.
/// Rows apply the causal mask <c>key &lt;= position</c>.</para>
/// </summary>
public sealed class BlockSparseIndex
{
    public BlockSparseIndex(int spanStart, int spanLength, int[] blockOffsets, int[] keyBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(spanStart);
        ArgumentOutOfRangeException.ThrowIfLessThan(spanLength, 1);
        var blocks = (spanLength + SparseSpan.QueryBlock - 1) / SparseSpan.QueryBlock;
        if (blockOffsets.Length != blocks + 1 || blockOffsets[0] != 0 || blockOffsets[^1] != keyBlocks.Length)
        {
            throw new ArgumentException(
                $"block offsets must hold {blocks + 1} entries from 0 to {keyBlocks.Length}, got {blockOffsets.Length} entries", nameof(blockOffsets));
        }

        for (var b = 0; b < blocks; b++)
        {
            var last = spanStart + Math.Min((b + 1) * SparseSpan.QueryBlock, spanLength) - 1;
            for (var i = blockOffsets[b]; i < blockOffsets[b + 1]; i++)
            {
                if (keyBlocks[i] < 0 || (long)keyBlocks[i] * SparseSpan.KeyBlock > last || (i > blockOffsets[b] && keyBlocks[i] <= keyBlocks[i - 1]))
                {
                    throw new ArgumentException(
                        $"query block {b}: key block {keyBlocks[i]} at index {i} is not ascending inside [0, {(last / SparseSpan.KeyBlock) + 1})", nameof(keyBlocks));
                }
            }
        }

        SpanStart = spanStart;
        SpanLength = spanLength;
        BlockOffsets = blockOffsets;
        KeyBlocks = keyBlocks;
    }

    public int SpanStart { get; }

    public int SpanLength { get; }

    public int KeyLength => SpanStart + SpanLength;

    public int QueryBlocks => BlockOffsets.Length - 1;

    public int[] BlockOffsets { get; }

    public int[] KeyBlocks { get; }

    /// <summary>(query, key) pairs computed after the causal mask.</summary>
    public long CoveredPairs()
    {
        long total = 0;
        for (var b = 0; b < QueryBlocks; b++)
        {
            var first = SpanStart + (b * SparseSpan.QueryBlock);
            var last = SpanStart + Math.Min((b + 1) * SparseSpan.QueryBlock, SpanLength) - 1;
            for (var i = BlockOffsets[b]; i < BlockOffsets[b + 1]; i++)
            {
                var start = KeyBlocks[i] * SparseSpan.KeyBlock;
                var end = Math.Min(start + SparseSpan.KeyBlock, KeyLength);
                for (var p = first; p <= last; p++)
                {
                    total += Math.Max(0, Math.Min(end, p + 1) - start);
                }
            }
        }

        return total;
    }
}
