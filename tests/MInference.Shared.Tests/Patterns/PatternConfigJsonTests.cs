using MInference.Shared.Patterns;

namespace MInference.Shared.Tests.Patterns;

public class PatternConfigJsonTests
{
    /// <summary>Saving a config with every pattern kind and loading it back gives the same patterns and scores.</summary>
    [Fact]
    public void Round_trip_keeps_every_kind_size_and_score()
    {
        var random = new Random(1234);
        const int layers = 3, heads = 5;
        var patterns = new HeadPattern[layers * heads];
        var scores = new double?[patterns.Length];
        for (var i = 0; i < patterns.Length; i++)
        {
            patterns[i] = (i % 4) switch
            {
                0 => HeadPattern.Dense,
                1 => HeadPattern.AShape(random.Next(1, 2000), random.Next(1, 5000)),
                2 => HeadPattern.VerticalSlash(random.Next(1, 4000), random.Next(1, 8000)),
                _ => HeadPattern.BlockSparse(random.Next(1, 200)),
            };
            scores[i] = i % 3 == 0 ? null : random.NextDouble();
        }

        var config = new PatternConfig(layers, heads, patterns, scores) { Source = "test" };
        var path = Path.Combine(Path.GetTempPath(), $"patterns-{Guid.NewGuid():N}.json");
        try
        {
            PatternConfigJson.Save(config, path);
            var loaded = PatternConfigJson.Load(path);
            Assert.Equal(layers, loaded.LayerCount);
            Assert.Equal(heads, loaded.HeadCount);
            Assert.Equal("test", loaded.Source);
            for (var l = 0; l < layers; l++)
            {
                for (var h = 0; h < heads; h++)
                {
                    Assert.Equal(config[l, h], loaded[l, h]);
                    Assert.Equal(config.Score(l, h), loaded.Score(l, h));
                }
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Each kind of bad input is rejected with a message naming the place and the value.</summary>
    [Theory]
    [InlineData("{\"format\":\"minference-cluster.patterns\",\"version\":1,\"layerCount\":1,\"headCount\":1,\"layers\":[[{\"pattern\":\"vertical_slash\",\"vertical\":0,\"slash\":10}]]}", "layer 0 head 0: vertical is 0")]
    [InlineData("{\"format\":\"minference-cluster.patterns\",\"version\":1,\"layerCount\":1,\"headCount\":1,\"layers\":[[{\"pattern\":\"a_shape\",\"n_init\":-3,\"n_local\":10}]]}", "layer 0 head 0: n_init is -3")]
    [InlineData("{\"format\":\"minference-cluster.patterns\",\"version\":1,\"layerCount\":1,\"headCount\":1,\"layers\":[[{\"pattern\":\"diagonal\"}]]}", "layer 0 head 0: unknown pattern \"diagonal\"")]
    [InlineData("{\"format\":\"minference-cluster.patterns\",\"version\":1,\"layerCount\":2,\"headCount\":1,\"layers\":[[{\"pattern\":\"dense\"}]]}", "\"layers\" has 1 entries but layerCount is 2")]
    [InlineData("{\"format\":\"minference-cluster.patterns\",\"version\":1,\"layerCount\":1,\"headCount\":2,\"layers\":[[{\"pattern\":\"dense\"}]]}", "layer 0: expected an array of 2 heads, found 1 entries")]
    [InlineData("{\"format\":\"minference-cluster.patterns\",\"version\":9,\"layerCount\":1,\"headCount\":1,\"layers\":[]}", "version 9 is not supported")]
    [InlineData("{\"format\":\"minference-cluster.patterns\",\"version\":1,\"layerCount\":1,\"headCount\":1,\"layers\":[[{\"pattern\":\"block_sparse\",\"top_k\":2.5}]]}", "top_k must be a whole number, found 2.5")]
    [InlineData("{\"format\": \"minference-cluster.patterns\", \"version\": 1,, }", "malformed JSON at line 1")]
    [InlineData("[{\"0\": [\"vertical_and_slash\", 1, 2, 0.5]}]", "expected a JSON object")]
    public void Bad_input_is_rejected_with_a_precise_message(string json, string expected)
    {
        var error = Assert.Throws<PatternConfigException>(() => PatternConfigJson.Parse(json, "cfg.json"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.StartsWith("cfg.json: ", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A config for another model shape is refused with both counts in the message.</summary>
    [Fact]
    public void EnsureFits_names_the_mismatch()
    {
        var config = PatternConfig.Uniform(4, 8, HeadPattern.Default);
        config.EnsureFits(4, 8, "m");
        var layers = Assert.Throws<PatternConfigException>(() => config.EnsureFits(5, 8, "m"));
        Assert.Contains("4 layers but model m has 5", layers.Message, StringComparison.Ordinal);
        var heads = Assert.Throws<PatternConfigException>(() => config.EnsureFits(4, 32, "m"));
        Assert.Contains("8 query heads per layer but model m has 32", heads.Message, StringComparison.Ordinal);
    }

    /// <summary>The summary counts heads per distinct pattern, most common first, and covers every head.</summary>
    [Fact]
    public void Summarize_counts_heads_per_pattern()
    {
        var patterns = new[]
        {
            HeadPattern.VerticalSlash(30, 800), HeadPattern.Default, HeadPattern.Default,
            HeadPattern.Dense, HeadPattern.Default, HeadPattern.VerticalSlash(30, 800),
        };
        var summary = new PatternConfig(2, 3, patterns).Summarize();
        Assert.Equal([(HeadPattern.Default, 3), (HeadPattern.VerticalSlash(30, 800), 2), (HeadPattern.Dense, 1)], summary);
    }
}
