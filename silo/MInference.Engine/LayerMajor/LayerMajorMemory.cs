using MInference.Shared.Models;

namespace MInference.Engine.LayerMajor;

/// <summary>
/// Device memory a layer-major pre-fill of <see cref="Tokens"/> tokens allocates beyond the weights, as
/// <see cref="ModelShard"/> allocates it: per token the hidden states, Q, the attention output and one
/// layer's K and V; per chunk of rows the normed input, the projected output and the MLP's gate and up.
/// Sparse backends add their index workspace on top (backend specific, not counted here).
/// </summary>
public sealed record LayerMajorMemory(long Tokens, long HiddenBytes, long QueryBytes, long AttentionOutputBytes, long KeyValueBytes, long ChunkBytes)
{
    public long TotalBytes => HiddenBytes + QueryBytes + AttentionOutputBytes + KeyValueBytes + ChunkBytes;

    /// <summary>The activations of <paramref name="tokens"/> tokens with rows chunked by <paramref name="chunkRows"/>, elements of <paramref name="elementBytes"/> bytes.</summary>
    public static LayerMajorMemory Estimate(ModelSpec spec, long tokens, int chunkRows, int elementBytes)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkRows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(elementBytes, 1);
        var rows = Math.Min(tokens, chunkRows);
        long queryWidth = (long)spec.QueryHeadCount * spec.HeadDim;
        long kvWidth = (long)spec.KeyValueHeadCount * spec.HeadDim;
        return new LayerMajorMemory(
            tokens,
            tokens * spec.HiddenSize * elementBytes,
            tokens * queryWidth * elementBytes,
            tokens * queryWidth * elementBytes,
            2 * tokens * kvWidth * elementBytes,
            rows * ((2L * spec.HiddenSize) + (2L * spec.IntermediateSize)) * elementBytes);
    }
}
