using System.Globalization;
using MInference.Shared.Patterns;

namespace MInference.Engine.Evaluation;

/// <summary>
/// One attention setting an evaluation compares: a name for tables and a pattern config (null = dense).
/// <see cref="Parse"/> reads <c>dense</c>, <c>default</c> (every head <see cref="HeadPattern.Default"/>,
/// MInference's fallback), <c>ashape</c> or <c>ashape:INIT,LOCAL</c> (every head A-shape, the paper's
/// StreamingLLM-like baseline), <c>vs:V,S</c> (every head Vertical-Slash), or the path of a config in our
/// JSON format (e.g. the output of <c>minference search</c>).
/// </summary>
public sealed record EvaluationConfig(string Name, PatternConfig? Patterns)
{
    /// <summary>Default A-shape sizes: 64 initial keys and 1024 local keys.</summary>
    public static readonly HeadPattern DefaultAShape = HeadPattern.AShape(64, 1024);

    public static EvaluationConfig Parse(string text, int layerCount, int headCount)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var head = colon < 0 ? text : text[..colon];
        var sizes = colon < 0 ? null : text[(colon + 1)..];
        switch (head.ToLowerInvariant())
        {
            case "dense" when sizes is null:
                return new EvaluationConfig("dense", null);
            case "default" when sizes is null:
                return new EvaluationConfig("default", PatternConfig.Uniform(layerCount, headCount, HeadPattern.Default));
            case "ashape":
                {
                    var pattern = sizes is null ? DefaultAShape : HeadPattern.AShape(Sizes(text, sizes).First, Sizes(text, sizes).Second);
                    return new EvaluationConfig(pattern.ToString(), PatternConfig.Uniform(layerCount, headCount, pattern));
                }

            case "vs" when sizes is not null:
                {
                    var (v, s) = Sizes(text, sizes);
                    var pattern = HeadPattern.VerticalSlash(v, s);
                    return new EvaluationConfig(pattern.ToString(), PatternConfig.Uniform(layerCount, headCount, pattern));
                }
        }

        if (!File.Exists(text))
        {
            throw new ArgumentException(
                $"config '{text}' is neither dense, default, ashape[:INIT,LOCAL], vs:V,S nor an existing config file", nameof(text));
        }

        var config = PatternConfigJson.Load(text);
        return new EvaluationConfig(Path.GetFileNameWithoutExtension(text), config);
    }

    private static (int First, int Second) Sizes(string text, string sizes)
    {
        var parts = sizes.Split(',');
        if (parts.Length != 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var second))
        {
            throw new ArgumentException($"config '{text}' needs two positive integer sizes after the colon, as in ashape:64,1024", nameof(text));
        }

        return (first, second);
    }
}
