using System.Globalization;
using System.Text.Json;

namespace MInference.Shared.Patterns;

/// <summary>
/// Imports MInference's published <c>*_best_pattern*.json</c> files: a JSON list with one object per
/// layer, mapping a query head number (as a string) to <c>[pattern, v, s, score]</c>.
/// <list type="bullet">
/// <item><c>vertical_and_slash</c> becomes VS(v, s).</item>
/// <item><c>stream_llm</c> becomes A-shape(n_init = v, n_local = s), as MInference passes them to its streaming kernel.</item>
/// <item><c>block_sparse</c> becomes block-sparse(top 100): MInference's block-sparse kernel ignores v and s
/// and always keeps the top 100 key blocks, so v and s are not read for it.</item>
/// </list>
/// A head the file does not list gets <see cref="HeadPattern.Default"/> (VS(1000, 6096)), as in MInference.
/// The layer count must equal the model's; head numbers must lie inside the model's query heads.
/// </summary>
public static class MInferenceBestPatternImporter
{
    internal const string VerticalAndSlash = "vertical_and_slash";
    internal const string StreamLlm = "stream_llm";
    internal const string BlockSparse = "block_sparse";

    public static PatternConfig Load(string path, int layerCount, int headCount)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (IOException e)
        {
            throw new PatternConfigException($"{path}: cannot read MInference pattern file: {e.Message}", e);
        }

        return Parse(text, layerCount, headCount, path);
    }

    public static PatternConfig Parse(string json, int layerCount, int headCount, string sourceName = "input")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layerCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(headCount, 1);
        using var document = PatternConfigJson.ParseDocument(json, sourceName);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Array)
        {
            throw new PatternConfigException(
                $"{sourceName}: expected a JSON list with one object per layer, found {root.ValueKind}");
        }

        if (root.GetArrayLength() != layerCount)
        {
            throw new PatternConfigException(
                $"{sourceName}: lists {root.GetArrayLength()} layers but the model has {layerCount}");
        }

        var patterns = new HeadPattern[layerCount * headCount];
        Array.Fill(patterns, HeadPattern.Default);
        var scores = new double?[patterns.Length];
        var layer = 0;
        foreach (var heads in root.EnumerateArray())
        {
            if (heads.ValueKind != JsonValueKind.Object)
            {
                throw new PatternConfigException(
                    $"{sourceName}: layer {layer}: expected an object of heads, found {heads.ValueKind}");
            }

            foreach (var property in heads.EnumerateObject())
            {
                if (!int.TryParse(property.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var head))
                {
                    throw new PatternConfigException(
                        $"{sourceName}: layer {layer}: head key \"{property.Name}\" is not a head number");
                }

                if (head >= headCount)
                {
                    throw new PatternConfigException(
                        $"{sourceName}: layer {layer}: head {head} is outside the model's {headCount} query heads");
                }

                var where = $"layer {layer} head {head}";
                (patterns[(layer * headCount) + head], scores[(layer * headCount) + head]) =
                    ReadHead(property.Value, sourceName, where);
            }

            layer++;
        }

        return new PatternConfig(layerCount, headCount, patterns, scores) { Source = $"MInference best_pattern {Path.GetFileName(sourceName)}" };
    }

    /// <summary>
    /// The shape a MInference file implies when no model is at hand: its layer count, and one more
    /// than the highest head number it lists (heads above that are unknown, not absent).
    /// </summary>
    public static (int Layers, int Heads) InferShape(string json, string sourceName = "input")
    {
        using var document = PatternConfigJson.ParseDocument(json, sourceName);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Array || root.GetArrayLength() == 0)
        {
            throw new PatternConfigException($"{sourceName}: expected a non-empty JSON list with one object per layer");
        }

        var heads = 1;
        foreach (var layer in root.EnumerateArray().Where(l => l.ValueKind == JsonValueKind.Object))
        {
            foreach (var property in layer.EnumerateObject())
            {
                if (int.TryParse(property.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var head) && head < int.MaxValue)
                {
                    heads = Math.Max(heads, head + 1);
                }
            }
        }

        return (root.GetArrayLength(), heads);
    }

    private static (HeadPattern Pattern, double? Score) ReadHead(JsonElement entry, string sourceName, string where)
    {
        if (entry.ValueKind != JsonValueKind.Array || entry.GetArrayLength() < 3)
        {
            throw new PatternConfigException(
                $"{sourceName}: {where}: expected [pattern, v, s, score], found {Shorten(entry.GetRawText())}");
        }

        var name = entry[0].ValueKind == JsonValueKind.String ? entry[0].GetString()! : entry[0].GetRawText();
        var score = entry.GetArrayLength() > 3 && entry[3].ValueKind == JsonValueKind.Number ? entry[3].GetDouble() : (double?)null;
        switch (name)
        {
            case VerticalAndSlash:
                return (HeadPattern.VerticalSlash(Size(entry[1], "v", sourceName, where), Size(entry[2], "s", sourceName, where)), score);
            case StreamLlm:
                return (HeadPattern.AShape(Size(entry[1], "v (n_init)", sourceName, where), Size(entry[2], "s (n_local)", sourceName, where)), score);
            case BlockSparse:
                return (HeadPattern.BlockSparse(HeadPattern.DefaultTopBlocks), score);
            default:
                throw new PatternConfigException(
                    $"{sourceName}: {where}: unknown pattern \"{name}\" (expected {VerticalAndSlash}, {StreamLlm} or {BlockSparse})");
        }
    }

    private static int Size(JsonElement value, string name, string sourceName, string where)
    {
        var size = PatternConfigJson.WholeNumber(value, name, sourceName, where);
        return size >= 1
            ? size
            : throw new PatternConfigException($"{sourceName}: {where}: {name} is {size}, must be at least 1");
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : string.Concat(text.AsSpan(0, 57), "...");
}
