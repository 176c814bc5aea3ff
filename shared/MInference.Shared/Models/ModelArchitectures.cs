namespace MInference.Shared.Models;

/// <summary>The decoder families that share the Llama layout the runtime executes.</summary>
public enum ModelFamily
{
    Llama,
    Mistral,
    Qwen2,
    Yi,
}

/// <summary>Maps Hugging Face architecture names and <c>model_type</c> values onto <see cref="ModelFamily"/>.</summary>
public static class ModelArchitectures
{
    public const string Llama = "LlamaForCausalLM";
    public const string Mistral = "MistralForCausalLM";
    public const string Qwen2 = "Qwen2ForCausalLM";
    public const string Yi = "YiForCausalLM";

    public const string SupportedList = "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, YiForCausalLM (model_type llama, mistral, qwen2, yi)";

    /// <summary>The family of an architecture name or model type (case-insensitive); null when it is not supported.</summary>
    public static ModelFamily? FamilyOf(string architectureOrModelType) => FromName(architectureOrModelType);

    /// <summary>The family of a spec, from its <see cref="ModelSpec.Architecture"/>.</summary>
    public static ModelFamily FamilyOf(ModelSpec spec)
        => FromName(spec.Architecture)
            ?? throw new ArgumentException($"architecture '{spec.Architecture}' is not supported (supported: {SupportedList})", nameof(spec));

    /// <summary>The <c>model_type</c> transformers loads a family with (Yi checkpoints load as llama).</summary>
    public static string ModelTypeOf(ModelFamily family) => family switch
    {
        ModelFamily.Llama or ModelFamily.Yi => "llama",
        ModelFamily.Mistral => "mistral",
        ModelFamily.Qwen2 => "qwen2",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "unknown model family"),
    };

    /// <summary>The <c>architectures[0]</c> transformers loads a family with.</summary>
    public static string ArchitectureOf(ModelFamily family) => family switch
    {
        ModelFamily.Llama or ModelFamily.Yi => Llama,
        ModelFamily.Mistral => Mistral,
        ModelFamily.Qwen2 => Qwen2,
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "unknown model family"),
    };

    private static ModelFamily? FromName(string name) => name.ToLowerInvariant() switch
    {
        "llamaforcausallm" or "llama" => ModelFamily.Llama,
        "mistralforcausallm" or "mistral" => ModelFamily.Mistral,
        "qwen2forcausallm" or "qwen2" => ModelFamily.Qwen2,
        "yiforcausallm" or "yi" => ModelFamily.Yi,
        _ => null,
    };
}
