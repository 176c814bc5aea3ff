using System.Globalization;

namespace MInference.Engine;

/// <summary>The Hugging Face tensor names of a Llama-family checkpoint.</summary>
internal static class TensorNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string Layer(int layer, string suffix)
        => string.Create(CultureInfo.InvariantCulture, $"model.layers.{layer}.{suffix}");

    public const string InputNorm = "input_layernorm.weight";
    public const string PostAttentionNorm = "post_attention_layernorm.weight";
    public const string QueryWeight = "self_attn.q_proj.weight";
    public const string KeyWeight = "self_attn.k_proj.weight";
    public const string ValueWeight = "self_attn.v_proj.weight";
    public const string OutputWeight = "self_attn.o_proj.weight";
    public const string QueryBias = "self_attn.q_proj.bias";
    public const string KeyBias = "self_attn.k_proj.bias";
    public const string ValueBias = "self_attn.v_proj.bias";
    public const string GateWeight = "mlp.gate_proj.weight";
    public const string UpWeight = "mlp.up_proj.weight";
    public const string DownWeight = "mlp.down_proj.weight";
}
