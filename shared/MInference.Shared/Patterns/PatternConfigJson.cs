using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MInference.Shared.Patterns;

/// <summary>
/// Reads and writes our pattern config format, version 1:
/// <code>
/// {
///   "format": "minference-cluster.patterns",
///   "version": 1,
///   "layerCount": 32,
///   "headCount": 32,
///   "source": "optional, informational",
///   "layers": [                               // exactly layerCount entries
///     [                                       // exactly headCount entries, query head order
///       { "pattern": "vertical_slash", "vertical": 1000, "slash": 6096, "score": 0.98 },
///       { "pattern": "a_shape", "n_init": 128, "n_local": 3968 },
///       { "pattern": "block_sparse", "top_k": 100 },
///       { "pattern": "dense" }
///     ]
///   ]
/// }
/// </code>
/// Sizes are whole numbers of at least 1; <c>score</c> is optional everywhere. Readers reject a
/// higher <c>version</c> than they know, so a format change must bump it.
/// </summary>
public static class PatternConfigJson
{
    public const string FormatName = "minference-cluster.patterns";

    public const int CurrentVersion = 1;

    internal const string DenseName = "dense";
    internal const string AShapeName = "a_shape";
    internal const string VerticalSlashName = "vertical_slash";
    internal const string BlockSparseName = "block_sparse";

    public static PatternConfig Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (IOException e)
        {
            throw new PatternConfigException($"{path}: cannot read pattern config: {e.Message}", e);
        }

        return Parse(text, path);
    }

    public static void Save(PatternConfig config, string path) => File.WriteAllText(path, Serialize(config));

    /// <summary>Parses our format; <paramref name="sourceName"/> names the input in error messages.</summary>
    public static PatternConfig Parse(string json, string sourceName = "input")
    {
        using var document = ParseDocument(json, sourceName);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new PatternConfigException(
                $"{sourceName}: expected a JSON object with \"format\": \"{FormatName}\", found {root.ValueKind} " +
                "(MInference best_pattern files are imported with `minference config import`)");
        }

        var format = RequiredString(root, "format", sourceName, "the file");
        if (format != FormatName)
        {
            throw new PatternConfigException($"{sourceName}: format is \"{format}\", expected \"{FormatName}\"");
        }

        var version = RequiredInt(root, "version", sourceName, "the file");
        if (version < 1 || version > CurrentVersion)
        {
            throw new PatternConfigException(
                $"{sourceName}: version {version} is not supported (this build reads versions 1 to {CurrentVersion})");
        }

        var layerCount = RequiredInt(root, "layerCount", sourceName, "the file");
        var headCount = RequiredInt(root, "headCount", sourceName, "the file");
        if (layerCount < 1 || headCount < 1)
        {
            throw new PatternConfigException(
                $"{sourceName}: layerCount {layerCount} and headCount {headCount} must both be at least 1");
        }

        if (!root.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
        {
            throw new PatternConfigException($"{sourceName}: missing \"layers\" array");
        }

        if (layers.GetArrayLength() != layerCount)
        {
            throw new PatternConfigException(
                $"{sourceName}: \"layers\" has {layers.GetArrayLength()} entries but layerCount is {layerCount}");
        }

        var patterns = new HeadPattern[layerCount * headCount];
        var scores = new double?[patterns.Length];
        var layer = 0;
        foreach (var heads in layers.EnumerateArray())
        {
            if (heads.ValueKind != JsonValueKind.Array || heads.GetArrayLength() != headCount)
            {
                throw new PatternConfigException(
                    $"{sourceName}: layer {layer}: expected an array of {headCount} heads, found " +
                    (heads.ValueKind == JsonValueKind.Array ? $"{heads.GetArrayLength()} entries" : heads.ValueKind.ToString()));
            }

            var head = 0;
            foreach (var entry in heads.EnumerateArray())
            {
                var where = $"layer {layer} head {head}";
                (patterns[(layer * headCount) + head], scores[(layer * headCount) + head]) = ReadHead(entry, sourceName, where);
                head++;
            }

            layer++;
        }

        var source = root.TryGetProperty("source", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
        return new PatternConfig(layerCount, headCount, patterns, scores) { Source = source };
    }

    public static string Serialize(PatternConfig config)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteString("format", FormatName);
            writer.WriteNumber("version", CurrentVersion);
            writer.WriteNumber("layerCount", config.LayerCount);
            writer.WriteNumber("headCount", config.HeadCount);
            if (config.Source is not null)
            {
                writer.WriteString("source", config.Source);
            }

            writer.WriteStartArray("layers");
            for (var layer = 0; layer < config.LayerCount; layer++)
            {
                writer.WriteStartArray();
                for (var head = 0; head < config.HeadCount; head++)
                {
                    WriteHead(writer, config[layer, head], config.Score(layer, head));
                }

                writer.WriteEndArray();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    internal static JsonDocument ParseDocument(string json, string sourceName)
    {
        try
        {
            return JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new PatternConfigException(
                $"{sourceName}: malformed JSON at line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1}: {e.Message}", e);
        }
    }

    private static (HeadPattern Pattern, double? Score) ReadHead(JsonElement entry, string sourceName, string where)
    {
        if (entry.ValueKind != JsonValueKind.Object)
        {
            throw new PatternConfigException($"{sourceName}: {where}: expected an object, found {entry.ValueKind}");
        }

        var name = RequiredString(entry, "pattern", sourceName, where);
        var pattern = name switch
        {
            DenseName => HeadPattern.Dense,
            AShapeName => HeadPattern.AShape(
                RequiredSize(entry, "n_init", sourceName, where), RequiredSize(entry, "n_local", sourceName, where)),
            VerticalSlashName => HeadPattern.VerticalSlash(
                RequiredSize(entry, "vertical", sourceName, where), RequiredSize(entry, "slash", sourceName, where)),
            BlockSparseName => HeadPattern.BlockSparse(RequiredSize(entry, "top_k", sourceName, where)),
            _ => throw new PatternConfigException(
                $"{sourceName}: {where}: unknown pattern \"{name}\" (expected {DenseName}, {AShapeName}, {VerticalSlashName} or {BlockSparseName})"),
        };

        double? score = null;
        if (entry.TryGetProperty("score", out var scoreElement) && scoreElement.ValueKind != JsonValueKind.Null)
        {
            if (scoreElement.ValueKind != JsonValueKind.Number)
            {
                throw new PatternConfigException($"{sourceName}: {where}: score must be a number, found {scoreElement.ValueKind}");
            }

            score = scoreElement.GetDouble();
        }

        return (pattern, score);
    }

    private static void WriteHead(Utf8JsonWriter writer, HeadPattern pattern, double? score)
    {
        writer.WriteStartObject();
        switch (pattern.Kind)
        {
            case SparsePatternKind.Dense:
                writer.WriteString("pattern", DenseName);
                break;
            case SparsePatternKind.AShape:
                writer.WriteString("pattern", AShapeName);
                writer.WriteNumber("n_init", pattern.InitKeys);
                writer.WriteNumber("n_local", pattern.LocalKeys);
                break;
            case SparsePatternKind.VerticalSlash:
                writer.WriteString("pattern", VerticalSlashName);
                writer.WriteNumber("vertical", pattern.Verticals);
                writer.WriteNumber("slash", pattern.Slashes);
                break;
            case SparsePatternKind.BlockSparse:
                writer.WriteString("pattern", BlockSparseName);
                writer.WriteNumber("top_k", pattern.TopBlocks);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(pattern), pattern.Kind, "unknown pattern kind");
        }

        if (score is { } value)
        {
            writer.WriteNumber("score", value);
        }

        writer.WriteEndObject();
    }

    private static string RequiredString(JsonElement element, string property, string sourceName, string where)
    {
        if (!element.TryGetProperty(property, out var value) || value.ValueKind != JsonValueKind.String)
        {
            throw new PatternConfigException($"{sourceName}: {where}: missing string \"{property}\"");
        }

        return value.GetString()!;
    }

    private static int RequiredInt(JsonElement element, string property, string sourceName, string where)
    {
        if (!element.TryGetProperty(property, out var value))
        {
            throw new PatternConfigException($"{sourceName}: {where}: missing \"{property}\"");
        }

        return WholeNumber(value, property, sourceName, where);
    }

    private static int RequiredSize(JsonElement element, string property, string sourceName, string where)
    {
        var size = RequiredInt(element, property, sourceName, where);
        return size >= 1
            ? size
            : throw new PatternConfigException($"{sourceName}: {where}: {property} is {size}, must be at least 1");
    }

    internal static int WholeNumber(JsonElement value, string property, string sourceName, string where)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var result))
        {
            return result;
        }

        var shown = value.ValueKind == JsonValueKind.Number
            ? value.GetRawText()
            : value.ValueKind.ToString().ToLower(CultureInfo.InvariantCulture);
        throw new PatternConfigException($"{sourceName}: {where}: {property} must be a whole number, found {shown}");
    }
}
