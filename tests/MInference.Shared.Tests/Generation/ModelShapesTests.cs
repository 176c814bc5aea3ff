using MInference.Shared.Generation;
using MInference.Shared.Models;
using MInference.Shared.Tokenization;

namespace MInference.Shared.Tests.Generation;

public class ModelShapesTests
{
    /// <summary>The large shapes have the published parameter counts (Llama-3.1-8B: 8.03B; Qwen2.5-7B: 7.62B).</summary>
    [Theory]
    [InlineData(ModelShapes.Llama3_8B, 8_030_261_248L)]
    [InlineData(ModelShapes.Qwen25_7B, 7_615_616_512L)]
    public void Large_shapes_match_published_parameter_counts(string name, long parameters)
    {
        var spec = ModelShapes.Get(name);

        Assert.Equal(parameters, ModelTensorNames.Expected(spec).Sum(t => t.ElementCount));
    }

    /// <summary>small is in the 30-60M range the CPU benchmark wants.</summary>
    [Fact]
    public void Small_has_30_to_60_million_parameters()
    {
        var parameters = ModelTensorNames.Expected(ModelShapes.Get(ModelShapes.Small)).Sum(t => t.ElementCount);

        Assert.InRange(parameters, 30_000_000L, 60_000_000L);
    }

    /// <summary>Every shape can run byte-tokenizer prompts, is GQA, and passes the config round trip.</summary>
    [Fact]
    public void Every_shape_fits_the_byte_tokenizer_and_round_trips()
    {
        foreach (var name in ModelShapes.Names)
        {
            var spec = ModelShapes.Get(name);
            Assert.True(spec.VocabSize >= ByteLevelTokenizer.VocabularySize, name);
            Assert.True(spec.QueryHeadsPerKeyValueHead > 1, name);
            Assert.Equal(spec, ModelConfigReader.Parse(ModelConfigWriter.ToJson(spec), name));
        }
    }

    /// <summary>The CI shapes have the features the oracle tests need: llama3 scaling on tiny, biases and tied embeddings on tiny-qwen2.</summary>
    [Fact]
    public void Tiny_shapes_have_the_features_under_test()
    {
        var tiny = ModelShapes.Get(ModelShapes.Tiny);
        var qwen = ModelShapes.Get(ModelShapes.TinyQwen2);

        Assert.Equal(64, tiny.HeadDim);
        Assert.Equal(RopeScalingType.Llama3, tiny.RopeScaling?.Type);
        Assert.True(qwen.AttentionBias);
        Assert.True(qwen.TieWordEmbeddings);
        Assert.Equal(1e6f, qwen.RopeTheta);
    }

    /// <summary>An unknown shape name fails listing the valid names.</summary>
    [Fact]
    public void Unknown_shape_lists_the_valid_names()
    {
        var ex = Assert.Throws<ArgumentException>(() => ModelShapes.Get("llama-70b"));

        Assert.Contains("'llama-70b'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("tiny, tiny-qwen2, small, llama3-8b, qwen2.5-7b", ex.Message, StringComparison.Ordinal);
    }
}
