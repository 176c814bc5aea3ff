namespace MInference.Shared.Models;

/// <summary>
/// The shape of a Llama-family decoder, as read from a Hugging Face <c>config.json</c>.
/// Every architecture we serve (Llama 2/3/3.1, Mistral, Qwen2/2.5, Yi) maps onto this one record.
/// </summary>
public sealed record ModelSpec
{
    /// <summary>The <c>architectures[0]</c> or <c>model_type</c> the config named, e.g. <c>LlamaForCausalLM</c>.</summary>
    public required string Architecture { get; init; }

    public required int VocabSize { get; init; }

    public required int HiddenSize { get; init; }

    public required int IntermediateSize { get; init; }

    public required int LayerCount { get; init; }

    public required int QueryHeadCount { get; init; }

    public required int KeyValueHeadCount { get; init; }

    public required int HeadDim { get; init; }

    public required float RmsNormEpsilon { get; init; }

    public required float RopeTheta { get; init; }

    /// <summary>Null when the config has no <c>rope_scaling</c> (plain RoPE).</summary>
    public RopeScaling? RopeScaling { get; init; }

    public required int MaxPositionEmbeddings { get; init; }

    /// <summary>True for Qwen2-style models whose q/k/v projections carry a bias.</summary>
    public bool AttentionBias { get; init; }

    /// <summary>True when the LM head reuses the embedding matrix (no <c>lm_head.weight</c> tensor).</summary>
    public bool TieWordEmbeddings { get; init; }

    public int? BeginOfSequenceTokenId { get; init; }

    public int? EndOfSequenceTokenId { get; init; }

    /// <summary>Query heads that share one key/value head (GQA group size).</summary>
    public int QueryHeadsPerKeyValueHead => QueryHeadCount / KeyValueHeadCount;
}

/// <summary>The RoPE scaling schemes the loader understands.</summary>
public enum RopeScalingType
{
    /// <summary>Positions divided by <see cref="RopeScaling.Factor"/>.</summary>
    Linear,

    /// <summary>Llama 3.1's frequency-dependent scaling (low/high frequency factors).</summary>
    Llama3,

    /// <summary>NTK-aware base change once the sequence passes the original context.</summary>
    DynamicNtk,
}

/// <summary>The <c>rope_scaling</c> block of a config.</summary>
public sealed record RopeScaling
{
    public required RopeScalingType Type { get; init; }

    public required float Factor { get; init; }

    /// <summary>Llama 3 only.</summary>
    public float LowFrequencyFactor { get; init; } = 1f;

    /// <summary>Llama 3 only.</summary>
    public float HighFrequencyFactor { get; init; } = 4f;

    /// <summary>Llama 3 and dynamic NTK: the context the model was trained for before scaling.</summary>
    public int OriginalMaxPositionEmbeddings { get; init; } = 8192;
}
