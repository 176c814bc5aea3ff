using System.Text.Json.Nodes;
using MInference.Shared.Models;

namespace MInference.Shared.Tests.Models;

public class ModelConfigWriterTests
{
    /// <summary>Every published config survives read → write → read unchanged (the writer loses nothing the spec holds).</summary>
    [Theory]
    [InlineData(nameof(PublishedConfigs.Llama2_7B))]
    [InlineData(nameof(PublishedConfigs.Llama31_8B))]
    [InlineData(nameof(PublishedConfigs.Mistral_7B))]
    [InlineData(nameof(PublishedConfigs.Qwen25_7B))]
    [InlineData(nameof(PublishedConfigs.Qwen25_05B))]
    [InlineData(nameof(PublishedConfigs.Yi_6B))]
    public void Round_trip_preserves_the_spec(string configName)
    {
        var text = (string)typeof(PublishedConfigs).GetField(configName)!.GetValue(null)!;
        var spec = ModelConfigReader.Parse(text, configName);

        var again = ModelConfigReader.Parse(ModelConfigWriter.ToJson(spec), "written");

        Assert.Equal(spec, again);
    }

    /// <summary>Linear and dynamic scalings round-trip too, including a dynamic original length that differs from max positions.</summary>
    [Fact]
    public void Linear_and_dynamic_scaling_round_trip()
    {
        var baseSpec = ModelConfigReader.Parse(PublishedConfigs.Llama2_7B, "llama2");
        foreach (var scaling in new[]
        {
            new RopeScaling { Type = RopeScalingType.Linear, Factor = 2.5f },
            new RopeScaling { Type = RopeScalingType.DynamicNtk, Factor = 4f, OriginalMaxPositionEmbeddings = 2048 },
        })
        {
            var spec = baseSpec with { RopeScaling = scaling };
            var again = ModelConfigReader.Parse(ModelConfigWriter.ToJson(spec), "written");
            Assert.Equal(spec.RopeScaling!.Type, again.RopeScaling!.Type);
            Assert.Equal(spec.RopeScaling.Factor, again.RopeScaling.Factor);
            if (scaling.Type == RopeScalingType.DynamicNtk)
            {
                Assert.Equal(2048, again.RopeScaling.OriginalMaxPositionEmbeddings);
            }
        }
    }

    /// <summary>The written file carries what transformers' AutoConfig needs: model_type, architectures, bf16 dtype, silu.</summary>
    [Fact]
    public void Written_config_has_the_keys_transformers_reads()
    {
        var spec = ModelConfigReader.Parse(PublishedConfigs.Qwen25_7B, "qwen");

        var root = JsonNode.Parse(ModelConfigWriter.ToJson(spec))!.AsObject();

        Assert.Equal("qwen2", (string?)root["model_type"]);
        Assert.Equal("Qwen2ForCausalLM", (string?)root["architectures"]![0]);
        Assert.Equal("bfloat16", (string?)root["torch_dtype"]);
        Assert.Equal("silu", (string?)root["hidden_act"]);
        Assert.Equal(4, (int?)root["num_key_value_heads"]);
        Assert.Equal(1e6, (double?)root["rope_theta"]);
        Assert.False((bool?)root["use_sliding_window"]);
    }

    /// <summary>A Llama spec with attention biases cannot be written: transformers would add an o_proj bias the spec lacks.</summary>
    [Fact]
    public void Llama_with_attention_bias_is_refused()
    {
        var spec = ModelConfigReader.Parse(PublishedConfigs.Llama31_8B, "llama") with { AttentionBias = true };

        var ex = Assert.Throws<ArgumentException>(() => ModelConfigWriter.ToJson(spec));
        Assert.Contains("o_proj", ex.Message, StringComparison.Ordinal);
    }
}
