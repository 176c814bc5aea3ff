using System.Text.Json.Nodes;
using MInference.Shared.Models;

namespace MInference.Shared.Tests.Models;

public class ModelConfigReaderTests
{
    private const string Source = "/models/x/config.json";

    /// <summary>Llama 2 7B: MHA (32 KV heads), no rope_theta in the file so the 10000 default applies, no scaling.</summary>
    [Fact]
    public void Llama2_7B_maps_to_the_published_shape()
    {
        var spec = ModelConfigReader.Parse(PublishedConfigs.Llama2_7B, Source);

        Assert.Equal("LlamaForCausalLM", spec.Architecture);
        Assert.Equal(32000, spec.VocabSize);
        Assert.Equal(4096, spec.HiddenSize);
        Assert.Equal(11008, spec.IntermediateSize);
        Assert.Equal(32, spec.LayerCount);
        Assert.Equal(32, spec.QueryHeadCount);
        Assert.Equal(32, spec.KeyValueHeadCount);
        Assert.Equal(128, spec.HeadDim);
        Assert.Equal(1e-5f, spec.RmsNormEpsilon);
        Assert.Equal(10000f, spec.RopeTheta);
        Assert.Null(spec.RopeScaling);
        Assert.Equal(4096, spec.MaxPositionEmbeddings);
        Assert.False(spec.AttentionBias);
        Assert.False(spec.TieWordEmbeddings);
        Assert.Equal(1, spec.BeginOfSequenceTokenId);
        Assert.Equal(2, spec.EndOfSequenceTokenId);
    }

    /// <summary>Llama 3.1 8B: GQA 32/8, theta 500000 and the llama3 rope scaling block with its four parameters.</summary>
    [Fact]
    public void Llama31_8B_reads_llama3_rope_scaling()
    {
        var spec = ModelConfigReader.Parse(PublishedConfigs.Llama31_8B, Source);

        Assert.Equal(128256, spec.VocabSize);
        Assert.Equal(14336, spec.IntermediateSize);
        Assert.Equal(8, spec.KeyValueHeadCount);
        Assert.Equal(4, spec.QueryHeadsPerKeyValueHead);
        Assert.Equal(128, spec.HeadDim);
        Assert.Equal(500000f, spec.RopeTheta);
        Assert.Equal(131072, spec.MaxPositionEmbeddings);
        Assert.Equal(
            new RopeScaling { Type = RopeScalingType.Llama3, Factor = 8f, LowFrequencyFactor = 1f, HighFrequencyFactor = 4f, OriginalMaxPositionEmbeddings = 8192 },
            spec.RopeScaling);
        Assert.Equal(128000, spec.BeginOfSequenceTokenId);
        Assert.Equal(128001, spec.EndOfSequenceTokenId);
    }

    /// <summary>Instruct configs list several eos ids; the first is kept.</summary>
    [Fact]
    public void Eos_token_id_list_keeps_the_first()
    {
        var spec = ModelConfigReader.Parse(Edit(PublishedConfigs.Llama31_8B, o => o["eos_token_id"] = new JsonArray(128001, 128008, 128009)), Source);

        Assert.Equal(128001, spec.EndOfSequenceTokenId);
    }

    /// <summary>Mistral 7B: its own architecture name, GQA 32/8, 32K context.</summary>
    [Fact]
    public void Mistral_7B_maps_to_the_published_shape()
    {
        var spec = ModelConfigReader.Parse(PublishedConfigs.Mistral_7B, Source);

        Assert.Equal(ModelFamily.Mistral, ModelArchitectures.FamilyOf(spec));
        Assert.Equal(14336, spec.IntermediateSize);
        Assert.Equal(8, spec.KeyValueHeadCount);
        Assert.Equal(128, spec.HeadDim);
        Assert.Equal(32768, spec.MaxPositionEmbeddings);
        Assert.Null(spec.RopeScaling);
    }

    /// <summary>Qwen2.5 7B: q/k/v biases implied by the architecture (no key in the file), theta 1e6, eps 1e-6, d = 3584/28.</summary>
    [Fact]
    public void Qwen25_7B_has_attention_bias_and_untied_embeddings()
    {
        var spec = ModelConfigReader.Parse(PublishedConfigs.Qwen25_7B, Source);

        Assert.Equal(ModelFamily.Qwen2, ModelArchitectures.FamilyOf(spec));
        Assert.True(spec.AttentionBias);
        Assert.False(spec.TieWordEmbeddings);
        Assert.Equal(152064, spec.VocabSize);
        Assert.Equal(3584, spec.HiddenSize);
        Assert.Equal(18944, spec.IntermediateSize);
        Assert.Equal(28, spec.LayerCount);
        Assert.Equal(28, spec.QueryHeadCount);
        Assert.Equal(4, spec.KeyValueHeadCount);
        Assert.Equal(128, spec.HeadDim);
        Assert.Equal(1e6f, spec.RopeTheta);
        Assert.Equal(1e-6f, spec.RmsNormEpsilon);
    }

    /// <summary>Small Qwen2.5 checkpoints tie the LM head to the embeddings.</summary>
    [Fact]
    public void Qwen25_05B_ties_word_embeddings()
    {
        var spec = ModelConfigReader.Parse(PublishedConfigs.Qwen25_05B, Source);

        Assert.True(spec.TieWordEmbeddings);
        Assert.True(spec.AttentionBias);
        Assert.Equal(64, spec.HeadDim);
        Assert.Equal(2, spec.KeyValueHeadCount);
    }

    /// <summary>Yi 6B ships as a Llama architecture with GQA 32/4 and theta 5e6.</summary>
    [Fact]
    public void Yi_6B_maps_to_the_published_shape()
    {
        var spec = ModelConfigReader.Parse(PublishedConfigs.Yi_6B, Source);

        Assert.Equal(ModelFamily.Llama, ModelArchitectures.FamilyOf(spec));
        Assert.Equal(64000, spec.VocabSize);
        Assert.Equal(4, spec.KeyValueHeadCount);
        Assert.Equal(5e6f, spec.RopeTheta);
    }

    /// <summary>Early Yi checkpoints name their own architecture and model type; they are the Llama layout.</summary>
    [Fact]
    public void Early_Yi_architecture_name_is_accepted()
    {
        var json = Edit(PublishedConfigs.Yi_6B, o =>
        {
            o["architectures"] = new JsonArray("YiForCausalLM");
            o["model_type"] = "Yi";
        });

        var spec = ModelConfigReader.Parse(json, Source);

        Assert.Equal(ModelFamily.Yi, ModelArchitectures.FamilyOf(spec));
    }

    /// <summary>An explicit head_dim wins over hidden/heads (Mistral Nemo style: 5120 hidden, 32 heads, d 128).</summary>
    [Fact]
    public void Explicit_head_dim_wins_over_hidden_over_heads()
    {
        var json = Edit(PublishedConfigs.Mistral_7B, o =>
        {
            o["hidden_size"] = 5120;
            o["head_dim"] = 128;
        });

        Assert.Equal(128, ModelConfigReader.Parse(json, Source).HeadDim);
    }

    /// <summary>A missing num_key_value_heads means MHA.</summary>
    [Fact]
    public void Missing_kv_heads_means_multi_head_attention()
    {
        var json = Edit(PublishedConfigs.Llama2_7B, o => o.Remove("num_key_value_heads"));

        Assert.Equal(32, ModelConfigReader.Parse(json, Source).KeyValueHeadCount);
    }

    /// <summary>Linear scaling in both legacy spellings (key "type" and key "rope_type").</summary>
    [Theory]
    [InlineData("type")]
    [InlineData("rope_type")]
    public void Linear_rope_scaling_reads_either_type_key(string key)
    {
        var json = Edit(PublishedConfigs.Llama2_7B, o => o["rope_scaling"] = new JsonObject { [key] = "linear", ["factor"] = 4.0 });

        var scaling = ModelConfigReader.Parse(json, Source).RopeScaling;

        Assert.NotNull(scaling);
        Assert.Equal(RopeScalingType.Linear, scaling.Type);
        Assert.Equal(4f, scaling.Factor);
    }

    /// <summary>Dynamic NTK without an explicit original length scales relative to max_position_embeddings, as transformers does.</summary>
    [Fact]
    public void Dynamic_rope_scaling_defaults_original_length_to_max_positions()
    {
        var json = Edit(PublishedConfigs.Llama2_7B, o => o["rope_scaling"] = new JsonObject { ["type"] = "dynamic", ["factor"] = 2.0 });

        var scaling = ModelConfigReader.Parse(json, Source).RopeScaling;

        Assert.NotNull(scaling);
        Assert.Equal(RopeScalingType.DynamicNtk, scaling.Type);
        Assert.Equal(2f, scaling.Factor);
        Assert.Equal(4096, scaling.OriginalMaxPositionEmbeddings);
    }

    /// <summary>transformers v5 folds rope_theta and the scaling into rope_parameters.</summary>
    [Fact]
    public void Rope_parameters_of_transformers_v5_are_read()
    {
        var json = Edit(PublishedConfigs.Llama31_8B, o =>
        {
            var scaling = o["rope_scaling"]!.DeepClone().AsObject();
            scaling["rope_theta"] = 500000.0;
            o.Remove("rope_scaling");
            o.Remove("rope_theta");
            o["rope_parameters"] = scaling;
        });

        var spec = ModelConfigReader.Parse(json, Source);

        Assert.Equal(500000f, spec.RopeTheta);
        Assert.Equal(RopeScalingType.Llama3, spec.RopeScaling?.Type);
    }

    /// <summary>Each unsupported or broken field is reported with the file and the field's name.</summary>
    [Theory]
    [InlineData("hidden_size", "hidden_size")]
    [InlineData("vocab_size", "vocab_size")]
    [InlineData("num_hidden_layers", "num_hidden_layers")]
    public void Missing_required_field_names_file_and_field(string removed, string expectedField)
    {
        var json = Edit(PublishedConfigs.Llama31_8B, o => o.Remove(removed));

        var ex = Assert.Throws<ModelFormatException>(() => ModelConfigReader.Parse(json, Source));

        Assert.Contains(Source, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"'{expectedField}'", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Values of the wrong kind or out of range name the field and the bad value.</summary>
    [Fact]
    public void Wrong_value_kinds_name_the_field_and_value()
    {
        AssertRejects(Edit(PublishedConfigs.Llama31_8B, o => o["hidden_size"] = "4096"), "hidden_size", "\"4096\"");
        AssertRejects(Edit(PublishedConfigs.Llama31_8B, o => o["num_hidden_layers"] = 0), "num_hidden_layers", "0");
        AssertRejects(Edit(PublishedConfigs.Llama31_8B, o => o["num_key_value_heads"] = 5), "num_key_value_heads", "5");
        AssertRejects(Edit(PublishedConfigs.Llama31_8B, o => o["rms_norm_eps"] = -1), "rms_norm_eps", "-1");
        AssertRejects(Edit(PublishedConfigs.Llama31_8B, o => o["hidden_act"] = "gelu"), "hidden_act", "gelu");
        AssertRejects(Edit(PublishedConfigs.Llama31_8B, o => o["mlp_bias"] = true), "mlp_bias", "MLP biases");
        AssertRejects(Edit(PublishedConfigs.Llama31_8B, o => o["attention_bias"] = true), "attention_bias", "o_proj");
        AssertRejects(Edit(PublishedConfigs.Llama31_8B, o => o["architectures"] = new JsonArray("GemmaForCausalLM")), "architectures", "GemmaForCausalLM");
        AssertRejects(Edit(PublishedConfigs.Llama2_7B, o => o["hidden_size"] = 4095), "hidden_size", "4095");
    }

    /// <summary>Unsupported rope types and llama3 blocks missing a parameter are rejected by name.</summary>
    [Fact]
    public void Bad_rope_scaling_is_rejected_by_field()
    {
        AssertRejects(
            Edit(PublishedConfigs.Llama31_8B, o => o["rope_scaling"]!["rope_type"] = "yarn"),
            "rope_scaling.rope_type",
            "yarn");
        AssertRejects(
            Edit(PublishedConfigs.Llama31_8B, o => o["rope_scaling"]!.AsObject().Remove("low_freq_factor")),
            "rope_scaling.low_freq_factor",
            "required");
        AssertRejects(
            Edit(PublishedConfigs.Llama31_8B, o => o["rope_scaling"]!.AsObject().Remove("factor")),
            "rope_scaling.factor",
            "required");
    }

    /// <summary>Text that is not JSON is reported with the file name.</summary>
    [Fact]
    public void Invalid_json_names_the_file()
    {
        var ex = Assert.Throws<ModelFormatException>(() => ModelConfigReader.Parse("{\"hidden_size\": 4096,,", Source));

        Assert.Contains(Source, ex.Message, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A directory without config.json fails with the path it looked at.</summary>
    [Fact]
    public void Missing_config_file_names_the_path()
    {
        var dir = Path.Combine(Path.GetTempPath(), "minference-noconfig-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var ex = Assert.Throws<ModelFormatException>(() => ModelConfigReader.ReadDirectory(dir));

            Assert.Contains(Path.Combine(dir, "config.json"), ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static void AssertRejects(string json, string field, string detail)
    {
        var ex = Assert.Throws<ModelFormatException>(() => ModelConfigReader.Parse(json, Source));
        Assert.Contains(Source, ex.Message, StringComparison.Ordinal);
        Assert.Contains($"'{field}'", ex.Message, StringComparison.Ordinal);
        Assert.Contains(detail, ex.Message, StringComparison.Ordinal);
    }

    private static string Edit(string json, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        edit(root);
        return root.ToJsonString();
    }
}
