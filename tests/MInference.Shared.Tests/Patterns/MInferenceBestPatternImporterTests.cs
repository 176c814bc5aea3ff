using MInference.Shared.Patterns;

namespace MInference.Shared.Tests.Patterns;

public class MInferenceBestPatternImporterTests
{
    /// <summary>Each MInference pattern name maps to our kind with its sizes; missing heads get VS(1000, 6096).</summary>
    [Fact]
    public void Import_maps_patterns_and_fills_missing_heads_with_the_default()
    {
        const string json = """
            [
              {"0": ["vertical_and_slash", 30, 800, 0.98], "2": ["stream_llm", 100, 800, 0.5]},
              {"1": ["block_sparse", 8, 1, 0.7], "0": ["vertical_and_slash", 3500, 100, 0.9]}
            ]
            """;
        var config = MInferenceBestPatternImporter.Parse(json, 2, 3, "best.json");
        Assert.Equal(HeadPattern.VerticalSlash(30, 800), config[0, 0]);
        Assert.Equal(HeadPattern.Default, config[0, 1]);
        Assert.Equal(HeadPattern.AShape(100, 800), config[0, 2]);
        Assert.Equal(HeadPattern.VerticalSlash(3500, 100), config[1, 0]);
        Assert.Equal(HeadPattern.BlockSparse(100), config[1, 1]);
        Assert.Equal(HeadPattern.VerticalSlash(1000, 6096), config[1, 2]);
        Assert.Equal(0.98, config.Score(0, 0));
        Assert.Null(config.Score(0, 1));
    }

    /// <summary>Bad MInference files are rejected with a message naming the layer, head and value.</summary>
    [Theory]
    [InlineData("[{\"0\": [\"vertical_and_slash\", 30, 800, 1.0]}]", 2, 4, "lists 1 layers but the model has 2")]
    [InlineData("[{\"7\": [\"vertical_and_slash\", 30, 800, 1.0]}]", 1, 4, "layer 0: head 7 is outside the model's 4 query heads")]
    [InlineData("[{\"1\": [\"diagonal\", 30, 800, 1.0]}]", 1, 4, "layer 0 head 1: unknown pattern \"diagonal\"")]
    [InlineData("[{\"1\": [\"vertical_and_slash\", 0, 800, 1.0]}]", 1, 4, "layer 0 head 1: v is 0, must be at least 1")]
    [InlineData("[{\"3\": [\"stream_llm\", 100, -5, 1.0]}]", 1, 4, "layer 0 head 3: s (n_local) is -5")]
    [InlineData("[{\"x\": [\"stream_llm\", 100, 5, 1.0]}]", 1, 4, "head key \"x\" is not a head number")]
    [InlineData("[{\"0\": [\"vertical_and_slash\", 30]}]", 1, 4, "layer 0 head 0: expected [pattern, v, s, score]")]
    [InlineData("[{\"0\": [\"vertical_and_slash\", 30, 800, 1.0]}", 1, 4, "malformed JSON")]
    public void Bad_files_are_rejected_with_a_precise_message(string json, int layers, int heads, string expected)
    {
        var error = Assert.Throws<PatternConfigException>(() => MInferenceBestPatternImporter.Parse(json, layers, heads, "best.json"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    /// <summary>An imported config survives a save/load round trip through our own format.</summary>
    [Fact]
    public void Imported_config_round_trips_through_our_format()
    {
        var imported = MInferenceBestPatternImporter.Parse("[{\"0\": [\"stream_llm\", 128, 3968, 0.25]}]", 1, 2);
        var reloaded = PatternConfigJson.Parse(PatternConfigJson.Serialize(imported));
        Assert.Equal(imported[0, 0], reloaded[0, 0]);
        Assert.Equal(imported[0, 1], reloaded[0, 1]);
        Assert.Equal(0.25, reloaded.Score(0, 0));
    }

    /// <summary>Without a model, the shape is the file's layer count and its highest head number plus one.</summary>
    [Fact]
    public void InferShape_uses_layer_count_and_highest_head()
    {
        Assert.Equal((2, 8), MInferenceBestPatternImporter.InferShape("[{\"0\": [\"dense\", 1, 1, 0]}, {\"7\": [\"stream_llm\", 1, 1, 0], \"3\": []}]"));
        Assert.Throws<PatternConfigException>(() => MInferenceBestPatternImporter.InferShape("[]"));
    }
}
