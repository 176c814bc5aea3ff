using System.Globalization;
using System.Text.Json;

namespace MInference.Shared.Models;

/// <summary>
/// Reads a Hugging Face <c>config.json</c> into a <see cref="ModelSpec"/>. Accepts the configs that
/// Llama 2/3/3.1, Mistral, Qwen2/2.5 and Yi publish (including legacy and transformers-v5 spellings of
/// the RoPE fields) and rejects what the runtime cannot execute, naming the file and the field.
/// </summary>
public static class ModelConfigReader
{
    public const string ConfigFileName = "config.json";

    /// <summary>transformers' default when a config (e.g. Llama 2's) has no <c>rope_theta</c>.</summary>
    public const float DefaultRopeTheta = 10000f;

    /// <summary>transformers' LlamaConfig default when <c>rms_norm_eps</c> is absent.</summary>
    public const float DefaultRmsNormEpsilon = 1e-6f;

    /// <summary>Reads <c>config.json</c> from a model directory.</summary>
    public static ModelSpec ReadDirectory(string modelDirectory)
        => ReadFile(Path.Combine(modelDirectory, ConfigFileName));

    public static ModelSpec ReadFile(string configPath)
    {
        string json;
        try
        {
            json = File.ReadAllText(configPath);
        }
        catch (IOException ex)
        {
            throw new ModelFormatException(configPath, null, $"cannot read the model config: {ex.Message}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new ModelFormatException(configPath, null, $"cannot read the model config: {ex.Message}", ex);
        }

        return Parse(json, configPath);
    }

    /// <summary>Parses config text; <paramref name="sourceName"/> is the file name used in error messages.</summary>
    public static ModelSpec Parse(string json, string sourceName)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(sourceName, null, $"config is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException(sourceName, null, $"config must be a JSON object, found {document.RootElement.ValueKind}");
            }

            return new ConfigFields(document.RootElement, sourceName).ToSpec();
        }
    }

    /// <summary>One config being read; keeps the file name at hand for every error.</summary>
    private readonly struct ConfigFields(JsonElement root, string source)
    {
        public ModelSpec ToSpec()
        {
            var modelType = OptionalString("model_type");
            var architecture = ReadArchitecture(modelType);
            var family = ModelArchitectures.FamilyOf(architecture)
                ?? throw Error(
                    root.TryGetProperty("architectures", out _) ? "architectures" : "model_type",
                    $"'{architecture}' is not a supported architecture (supported: {ModelArchitectures.SupportedList})");

            var hiddenAct = OptionalString("hidden_act") ?? "silu";
            if (hiddenAct is not ("silu" or "swish"))
            {
                throw Error("hidden_act", $"'{hiddenAct}' is not supported; the runtime implements SwiGLU (silu) only");
            }

            if (OptionalBool("mlp_bias") == true)
            {
                throw Error("mlp_bias", "MLP biases are not supported by the runtime");
            }

            // Qwen2's attention always carries q/k/v biases (the config has no key for it). Llama's
            // attention_bias also puts a bias on o_proj, which the runtime does not implement.
            var attentionBias = family == ModelFamily.Qwen2;
            if (family != ModelFamily.Qwen2 && OptionalBool("attention_bias") == true)
            {
                throw Error("attention_bias", $"true on a {family} model means an o_proj bias too, which the runtime does not implement");
            }

            var hidden = RequiredPositiveInt("hidden_size");
            var queryHeads = RequiredPositiveInt("num_attention_heads");
            var kvHeads = OptionalPositiveInt("num_key_value_heads") ?? queryHeads;
            if (queryHeads % kvHeads != 0)
            {
                throw Error("num_key_value_heads", $"{kvHeads} does not divide num_attention_heads {queryHeads}");
            }

            var headDim = OptionalPositiveInt("head_dim");
            if (headDim is null)
            {
                if (hidden % queryHeads != 0)
                {
                    throw Error("hidden_size", $"{hidden} is not a multiple of num_attention_heads {queryHeads} and the config has no head_dim");
                }

                headDim = hidden / queryHeads;
            }

            var maxPositions = RequiredPositiveInt("max_position_embeddings");
            var (ropeTheta, ropeScaling) = ReadRope(maxPositions);

            return new ModelSpec
            {
                Architecture = architecture,
                VocabSize = RequiredPositiveInt("vocab_size"),
                HiddenSize = hidden,
                IntermediateSize = RequiredPositiveInt("intermediate_size"),
                LayerCount = RequiredPositiveInt("num_hidden_layers"),
                QueryHeadCount = queryHeads,
                KeyValueHeadCount = kvHeads,
                HeadDim = headDim.Value,
                RmsNormEpsilon = OptionalPositiveFloat("rms_norm_eps") ?? DefaultRmsNormEpsilon,
                RopeTheta = ropeTheta,
                RopeScaling = ropeScaling,
                MaxPositionEmbeddings = maxPositions,
                AttentionBias = attentionBias,
                TieWordEmbeddings = OptionalBool("tie_word_embeddings") ?? false,
                BeginOfSequenceTokenId = OptionalTokenId("bos_token_id"),
                EndOfSequenceTokenId = OptionalTokenId("eos_token_id"),
            };
        }

        private string ReadArchitecture(string? modelType)
        {
            if (root.TryGetProperty("architectures", out var architectures) && architectures.ValueKind == JsonValueKind.Array)
            {
                if (architectures.GetArrayLength() > 0 && architectures[0].ValueKind == JsonValueKind.String)
                {
                    return architectures[0].GetString()!;
                }

                throw Error("architectures", "must be a non-empty array of strings");
            }

            return modelType ?? throw Error("model_type", "the config names neither architectures nor model_type");
        }

        /// <summary>
        /// RoPE base and scaling: legacy <c>rope_theta</c> + <c>rope_scaling</c> (with either <c>type</c>
        /// or <c>rope_type</c>), or transformers v5's <c>rope_parameters</c> holding both.
        /// </summary>
        private (float Theta, RopeScaling? Scaling) ReadRope(int maxPositions)
        {
            var theta = OptionalPositiveFloat("rope_theta");
            JsonElement scaling = default;
            var scalingField = "rope_scaling";
            if (root.TryGetProperty("rope_parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
            {
                scalingField = "rope_parameters";
                scaling = parameters;
                if (parameters.TryGetProperty("rope_theta", out var nestedTheta))
                {
                    theta = PositiveFloat(nestedTheta, "rope_parameters.rope_theta");
                }
            }
            else if (root.TryGetProperty("rope_scaling", out var legacy))
            {
                scaling = legacy;
            }

            theta ??= DefaultRopeTheta;
            if (scaling.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
            {
                return (theta.Value, null);
            }

            if (scaling.ValueKind != JsonValueKind.Object)
            {
                throw Error(scalingField, $"must be an object or null, found {scaling.ValueKind}");
            }

            string? type = null;
            foreach (var key in (ReadOnlySpan<string>)["rope_type", "type"])
            {
                if (scaling.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.String)
                {
                    type = value.GetString();
                    break;
                }
            }

            if (type is null or "default")
            {
                return (theta.Value, null);
            }

            var scalingType = type switch
            {
                "linear" => RopeScalingType.Linear,
                "llama3" => RopeScalingType.Llama3,
                "dynamic" => RopeScalingType.DynamicNtk,
                _ => throw Error($"{scalingField}.rope_type", $"'{type}' is not supported (supported: linear, llama3, dynamic)"),
            };

            var factorField = $"{scalingField}.factor";
            if (!scaling.TryGetProperty("factor", out var factorElement))
            {
                throw Error(factorField, $"is required for rope type '{type}'");
            }

            var factor = PositiveFloat(factorElement, factorField);
            var result = new RopeScaling { Type = scalingType, Factor = factor };
            if (scalingType == RopeScalingType.Llama3)
            {
                result = result with
                {
                    LowFrequencyFactor = NestedPositiveFloat(scaling, scalingField, "low_freq_factor", required: true)!.Value,
                    HighFrequencyFactor = NestedPositiveFloat(scaling, scalingField, "high_freq_factor", required: true)!.Value,
                    OriginalMaxPositionEmbeddings = (int)NestedPositiveFloat(scaling, scalingField, "original_max_position_embeddings", required: true)!.Value,
                };
                if (result.HighFrequencyFactor <= result.LowFrequencyFactor)
                {
                    throw Error($"{scalingField}.high_freq_factor", $"{result.HighFrequencyFactor} must exceed low_freq_factor {result.LowFrequencyFactor}");
                }
            }
            else if (scalingType == RopeScalingType.DynamicNtk)
            {
                // transformers' dynamic NTK scales relative to max_position_embeddings unless told otherwise.
                var original = NestedPositiveFloat(scaling, scalingField, "original_max_position_embeddings", required: false);
                result = result with { OriginalMaxPositionEmbeddings = original is null ? maxPositions : (int)original.Value };
            }

            return (theta.Value, result);
        }

        private float? NestedPositiveFloat(JsonElement parent, string parentField, string key, bool required)
        {
            var field = $"{parentField}.{key}";
            if (!parent.TryGetProperty(key, out var element) || element.ValueKind == JsonValueKind.Null)
            {
                return required ? throw Error(field, "is required for this rope type") : null;
            }

            return PositiveFloat(element, field);
        }

        private int RequiredPositiveInt(string field)
            => OptionalPositiveInt(field) ?? throw Error(field, "is required");

        private int? OptionalPositiveInt(string field)
        {
            if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
            {
                return null;
            }

            if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out var value))
            {
                throw Error(field, $"must be an integer, found {element.GetRawText()}");
            }

            return value > 0 ? value : throw Error(field, $"must be positive, found {value}");
        }

        private float? OptionalPositiveFloat(string field)
            => root.TryGetProperty(field, out var element) && element.ValueKind != JsonValueKind.Null
                ? PositiveFloat(element, field)
                : null;

        private float PositiveFloat(JsonElement element, string field)
        {
            if (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var value))
            {
                throw Error(field, $"must be a number, found {element.GetRawText()}");
            }

            if (!(value > 0) || double.IsInfinity(value))
            {
                throw Error(field, $"must be a positive finite number, found {value.ToString(CultureInfo.InvariantCulture)}");
            }

            return (float)value;
        }

        private bool? OptionalBool(string field)
        {
            if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
            {
                return null;
            }

            return element.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(field, $"must be true or false, found {element.GetRawText()}"),
            };
        }

        private string? OptionalString(string field)
        {
            if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
            {
                return null;
            }

            return element.ValueKind == JsonValueKind.String
                ? element.GetString()
                : throw Error(field, $"must be a string, found {element.GetRawText()}");
        }

        /// <summary>Token ids may be a single integer or (Llama 3.1 instruct) a list; the first one is kept.</summary>
        private int? OptionalTokenId(string field)
        {
            if (!root.TryGetProperty(field, out var element) || element.ValueKind == JsonValueKind.Null)
            {
                return null;
            }

            if (element.ValueKind == JsonValueKind.Array)
            {
                if (element.GetArrayLength() == 0)
                {
                    return null;
                }

                element = element[0];
            }

            return element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out var id) && id >= 0
                ? id
                : throw Error(field, $"must be a non-negative integer or a list of them, found {element.GetRawText()}");
        }

        private ModelFormatException Error(string field, string problem)
            => new(source, null, $"field '{field}' {problem}");
    }
}
