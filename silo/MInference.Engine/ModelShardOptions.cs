using MInference.Shared.Patterns;

namespace MInference.Engine;

/// <summary>Settings of a <see cref="ModelShard"/>.</summary>
public sealed class ModelShardOptions
{
    /// <summary>Default for <see cref="MlpChunkTokens"/>.</summary>
    public const int DefaultMlpChunkTokens = 4096;

    /// <summary>
    /// Tokens the MLP processes at once, so a long span never materialises [tokens, intermediate]
    /// (1M x 14336 f32 would be 57 GB); the norms and the Q/K/V and output projections run in chunks of
    /// the same size, so only Q, the attention output, the hidden states and K/V span all tokens.
    /// Default: <see cref="DefaultMlpChunkTokens"/>.
    /// </summary>
    public int MlpChunkTokens { get; set; } = DefaultMlpChunkTokens;

    /// <summary>
    /// The sparse pattern of every (layer, query head), applied during pre-fill; null runs every
    /// layer dense. It must fit the model (checked at load). Decode spans (one token) stay dense.
    /// </summary>
    public PatternConfig? Patterns { get; set; }

    /// <summary>Throws naming the bad setting and its limit.</summary>
    public void Validate()
    {
        if (MlpChunkTokens < 1)
        {
            throw new ArgumentOutOfRangeException(
                nameof(MlpChunkTokens),
                MlpChunkTokens,
                $"ModelShardOptions.MlpChunkTokens is {MlpChunkTokens} but must be at least 1 (default {DefaultMlpChunkTokens})");
        }
    }
}
