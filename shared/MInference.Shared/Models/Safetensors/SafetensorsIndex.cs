using System.Text;
using System.Text.Json;

namespace MInference.Shared.Models.Safetensors;

/// <summary>
/// <c>model.safetensors.index.json</c> of a sharded model: which shard file holds each tensor
/// (<c>weight_map</c>) and the total tensor bytes (<c>metadata.total_size</c>).
/// </summary>
public sealed record SafetensorsIndex(IReadOnlyDictionary<string, string> WeightMap, long? TotalSize)
{
    public const string FileName = "model.safetensors.index.json";

    /// <summary>The file name of an unsharded model.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>transformers' shard naming: <c>model-00001-of-00004.safetensors</c>.</summary>
    public static string ShardFileName(int shard, int shardCount)
        => $"model-{shard + 1:D5}-of-{shardCount:D5}.safetensors";

    public static SafetensorsIndex Read(string indexPath)
    {
        string text;
        try
        {
            text = File.ReadAllText(indexPath);
        }
        catch (IOException ex)
        {
            throw new ModelFormatException(indexPath, null, $"cannot read the shard index: {ex.Message}", ex);
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("weight_map", out var map)
                || map.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException(indexPath, null, "the index has no 'weight_map' object");
            }

            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                var file = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : null;
                if (string.IsNullOrEmpty(file) || file.Contains('/', StringComparison.Ordinal) || file.Contains('\\', StringComparison.Ordinal) || file is "." or "..")
                {
                    throw new ModelFormatException(indexPath, entry.Name, $"weight_map entry must be a file name in the model directory, found {entry.Value.GetRawText()}");
                }

                weightMap[entry.Name] = file;
            }

            long? totalSize = root.TryGetProperty("metadata", out var metadata)
                && metadata.ValueKind == JsonValueKind.Object
                && metadata.TryGetProperty("total_size", out var total)
                && total.ValueKind == JsonValueKind.Number
                && total.TryGetInt64(out var size)
                    ? size
                    : null;
            return new SafetensorsIndex(weightMap, totalSize);
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(indexPath, null, $"index is not valid JSON: {ex.Message}", ex);
        }
    }

    public void Write(string indexPath)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            if (TotalSize is { } total)
            {
                json.WriteNumber("total_size", total);
            }

            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (var (tensor, file) in WeightMap.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                json.WriteString(tensor, file);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        File.WriteAllText(indexPath, Encoding.UTF8.GetString(buffer.ToArray()) + "\n", new UTF8Encoding(false));
    }
}
