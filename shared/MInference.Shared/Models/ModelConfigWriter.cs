using System.Text;
using System.Text.Json;

namespace MInference.Shared.Models;

/// <summary>
/// Writes a <see cref="ModelSpec"/> as a Hugging Face <c>config.json</c> that transformers'
/// <c>AutoModelForCausalLM</c> loads (legacy <c>rope_theta</c>/<c>rope_scaling</c> keys, which both
/// transformers 4.x and 5.x read) and that <see cref="ModelConfigReader"/> reads back unchanged.
/// </summary>
public static class ModelConfigWriter
{
    /// <summary>Written only so tools that print it have something sensible; the weights set it, not this.</summary>
    private const float InitializerRange = 0.02f;

    private const string TransformersVersion = "4.45.0";

    public static void WriteDirectory(ModelSpec spec, string modelDirectory)
        => File.WriteAllText(Path.Combine(modelDirectory, ModelConfigReader.ConfigFileName), ToJson(spec), new UTF8Encoding(false));

    public static string ToJson(ModelSpec spec)
    {
        var family = ModelArchitectures.FamilyOf(spec);
        if (spec.AttentionBias && family != ModelFamily.Qwen2)
        {
            throw new ArgumentException(
                $"attention biases are only expressible for Qwen2 (q/k/v); a {family} config's attention_bias would add an o_proj bias",
                nameof(spec));
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("architectures");
            json.WriteStringValue(ModelArchitectures.ArchitectureOf(family));
            json.WriteEndArray();
            json.WriteString("model_type", ModelArchitectures.ModelTypeOf(family));
            json.WriteNumber("vocab_size", spec.VocabSize);
            json.WriteNumber("hidden_size", spec.HiddenSize);
            json.WriteNumber("intermediate_size", spec.IntermediateSize);
            json.WriteNumber("num_hidden_layers", spec.LayerCount);
            json.WriteNumber("num_attention_heads", spec.QueryHeadCount);
            json.WriteNumber("num_key_value_heads", spec.KeyValueHeadCount);
            json.WriteNumber("head_dim", spec.HeadDim);
            json.WriteString("hidden_act", "silu");
            json.WriteNumber("max_position_embeddings", spec.MaxPositionEmbeddings);
            json.WriteNumber("rms_norm_eps", spec.RmsNormEpsilon);
            json.WriteNumber("rope_theta", spec.RopeTheta);
            WriteRopeScaling(json, spec);
            if (family == ModelFamily.Qwen2)
            {
                // Qwen2's biases are implicit in its architecture; sliding window stays off.
                json.WriteBoolean("use_sliding_window", false);
                json.WriteNumber("sliding_window", spec.MaxPositionEmbeddings);
                json.WriteNumber("max_window_layers", spec.LayerCount);
            }
            else
            {
                json.WriteBoolean("attention_bias", false);
                json.WriteBoolean("mlp_bias", false);
                if (family == ModelFamily.Mistral)
                {
                    json.WriteNull("sliding_window");
                }
            }

            json.WriteBoolean("tie_word_embeddings", spec.TieWordEmbeddings);
            WriteOptionalInt(json, "bos_token_id", spec.BeginOfSequenceTokenId);
            WriteOptionalInt(json, "eos_token_id", spec.EndOfSequenceTokenId);
            json.WriteNumber("attention_dropout", 0);
            json.WriteNumber("initializer_range", InitializerRange);
            json.WriteString("torch_dtype", "bfloat16");
            json.WriteBoolean("use_cache", true);
            json.WriteString("transformers_version", TransformersVersion);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    private static void WriteRopeScaling(Utf8JsonWriter json, ModelSpec spec)
    {
        if (spec.RopeScaling is not { } scaling)
        {
            json.WriteNull("rope_scaling");
            return;
        }

        var type = scaling.Type switch
        {
            RopeScalingType.Linear => "linear",
            RopeScalingType.Llama3 => "llama3",
            RopeScalingType.DynamicNtk => "dynamic",
            _ => throw new ArgumentOutOfRangeException(nameof(spec), scaling.Type, "unknown rope scaling type"),
        };
        json.WriteStartObject("rope_scaling");
        json.WriteString("rope_type", type);
        json.WriteNumber("factor", scaling.Factor);
        if (scaling.Type == RopeScalingType.Llama3)
        {
            json.WriteNumber("low_freq_factor", scaling.LowFrequencyFactor);
            json.WriteNumber("high_freq_factor", scaling.HighFrequencyFactor);
            json.WriteNumber("original_max_position_embeddings", scaling.OriginalMaxPositionEmbeddings);
        }
        else if (scaling.Type == RopeScalingType.DynamicNtk && scaling.OriginalMaxPositionEmbeddings != spec.MaxPositionEmbeddings)
        {
            json.WriteNumber("original_max_position_embeddings", scaling.OriginalMaxPositionEmbeddings);
        }

        json.WriteEndObject();
    }

    private static void WriteOptionalInt(Utf8JsonWriter json, string name, int? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
