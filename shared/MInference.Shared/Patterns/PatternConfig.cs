namespace MInference.Shared.Patterns;

/// <summary>
/// One pattern for every (layer, query head) of a model, with the search score that chose it when
/// there was one. Heads are query heads (GQA groups share K/V, not patterns).
/// </summary>
public sealed class PatternConfig
{
    private readonly HeadPattern[] _patterns;
    private readonly double?[] _scores;

    /// <param name="layerCount">Decoder layers of the model.</param>
    /// <param name="headCount">Query heads per layer.</param>
    /// <param name="patterns">Row-major <c>[layer * headCount + head]</c>.</param>
    /// <param name="scores">Same layout, or null when no head has a score.</param>
    public PatternConfig(int layerCount, int headCount, HeadPattern[] patterns, double?[]? scores = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layerCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(headCount, 1);
        if (patterns.Length != (long)layerCount * headCount)
        {
            throw new ArgumentException(
                $"{patterns.Length} patterns given for {layerCount} layers x {headCount} heads (expected {(long)layerCount * headCount})",
                nameof(patterns));
        }

        if (scores is not null && scores.Length != patterns.Length)
        {
            throw new ArgumentException($"{scores.Length} scores given for {patterns.Length} patterns", nameof(scores));
        }

        LayerCount = layerCount;
        HeadCount = headCount;
        _patterns = (HeadPattern[])patterns.Clone();
        _scores = scores is null ? new double?[patterns.Length] : (double?[])scores.Clone();
    }

    public int LayerCount { get; }

    public int HeadCount { get; }

    /// <summary>Where the config came from (a file path, "MInference import", "search"); informational.</summary>
    public string? Source { get; init; }

    public HeadPattern this[int layer, int head] => _patterns[Index(layer, head)];

    /// <summary>Every head on one pattern; with <see cref="HeadPattern.Default"/>, what a model without a config runs.</summary>
    public static PatternConfig Uniform(int layerCount, int headCount, HeadPattern pattern)
        => new(layerCount, headCount, Enumerable.Repeat(pattern, checked(layerCount * headCount)).ToArray());

    /// <summary>The patterns of one layer's query heads, in head order (a copy).</summary>
    public HeadPattern[] Layer(int layer)
    {
        var first = Index(layer, 0);
        return _patterns.AsSpan(first, HeadCount).ToArray();
    }

    /// <summary>The search score that chose this head's pattern, or null when none was recorded.</summary>
    public double? Score(int layer, int head) => _scores[Index(layer, head)];

    /// <summary>Throws <see cref="PatternConfigException"/> when the config was made for another shape of model.</summary>
    public void EnsureFits(int layerCount, int headCount, string modelName)
    {
        if (LayerCount != layerCount)
        {
            throw new PatternConfigException(
                $"pattern config has {LayerCount} layers but model {modelName} has {layerCount}");
        }

        if (HeadCount != headCount)
        {
            throw new PatternConfigException(
                $"pattern config has {HeadCount} query heads per layer but model {modelName} has {headCount}");
        }
    }

    /// <summary>How many heads run each distinct pattern, most common first (ties in pattern order).</summary>
    public IReadOnlyList<(HeadPattern Pattern, int Heads)> Summarize()
        => _patterns
            .GroupBy(p => p)
            .Select(g => (Pattern: g.Key, Heads: g.Count()))
            .OrderByDescending(x => x.Heads)
            .ThenBy(x => x.Pattern.Kind)
            .ThenBy(x => x.Pattern.First)
            .ThenBy(x => x.Pattern.Second)
            .ToArray();

    private int Index(int layer, int head)
    {
        if ((uint)layer >= (uint)LayerCount)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"layer {layer} outside [0, {LayerCount})");
        }

        if ((uint)head >= (uint)HeadCount)
        {
            throw new ArgumentOutOfRangeException(nameof(head), head, $"head {head} outside [0, {HeadCount})");
        }

        return (layer * HeadCount) + head;
    }
}
