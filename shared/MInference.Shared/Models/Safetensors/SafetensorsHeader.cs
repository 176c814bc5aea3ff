using System.Text.Json;

namespace MInference.Shared.Models.Safetensors;

/// <summary>
/// The parsed and validated JSON header of a safetensors file: every tensor's dtype, shape and byte
/// range (inside the data section, sized exactly for its shape, not overlapping another) and the
/// optional <c>__metadata__</c> string map.
/// </summary>
public sealed class SafetensorsHeader
{
    public const string MetadataKey = "__metadata__";

    /// <summary>The reference implementation's limit; a larger header is a corrupt length, not a real model.</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    private SafetensorsHeader(IReadOnlyDictionary<string, SafetensorsTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    public IReadOnlyDictionary<string, SafetensorsTensor> Tensors { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Parses <paramref name="json"/>; <paramref name="dataLength"/> is the number of bytes after the header.</summary>
    public static SafetensorsHeader Parse(ReadOnlySpan<byte> json, long dataLength, string filePath)
    {
        JsonDocument document;
        try
        {
            // Writers pad the header with trailing spaces to align the data; JSON allows them.
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(filePath, null, $"header is not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException(filePath, null, $"header must be a JSON object, found {root.ValueKind}");
            }

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name == MetadataKey)
                {
                    ReadMetadata(property.Value, metadata, filePath);
                    continue;
                }

                var tensor = ReadTensor(property.Name, property.Value, dataLength, filePath);
                if (!tensors.TryAdd(property.Name, tensor))
                {
                    throw new ModelFormatException(filePath, property.Name, "appears twice in the header");
                }
            }

            CheckNoOverlaps(tensors.Values, filePath);
            return new SafetensorsHeader(tensors, metadata);
        }
    }

    private static void ReadMetadata(JsonElement element, Dictionary<string, string> metadata, string filePath)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException(filePath, null, $"{MetadataKey} must be an object of strings, found {element.ValueKind}");
        }

        foreach (var entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw new ModelFormatException(filePath, null, $"{MetadataKey} entry '{entry.Name}' must be a string, found {entry.Value.ValueKind}");
            }

            metadata[entry.Name] = entry.Value.GetString()!;
        }
    }

    private static SafetensorsTensor ReadTensor(string name, JsonElement element, long dataLength, string filePath)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException(filePath, name, $"header entry must be an object, found {element.ValueKind}");
        }

        if (!element.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw new ModelFormatException(filePath, name, "header entry has no string 'dtype'");
        }

        var dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeName, out var dtype))
        {
            throw new ModelFormatException(filePath, name, $"dtype '{dtypeName}' is not supported (supported: {SafetensorsDTypes.Supported})");
        }

        var shape = ReadNonNegativeArray(element, "shape", name, filePath);
        var offsets = ReadNonNegativeArray(element, "data_offsets", name, filePath);
        if (offsets.Length != 2)
        {
            throw new ModelFormatException(filePath, name, $"data_offsets must hold 2 numbers, found {offsets.Length}");
        }

        var (begin, end) = (offsets[0], offsets[1]);
        if (end < begin)
        {
            throw new ModelFormatException(filePath, name, $"data_offsets [{begin}, {end}] end before they begin");
        }

        if (end > dataLength)
        {
            throw new ModelFormatException(
                filePath,
                name,
                $"file is truncated: data_offsets [{begin}, {end}] end past the {dataLength} bytes of data after the header");
        }

        var info = new TensorInfo(name, dtype, shape);
        long expectedBytes;
        try
        {
            expectedBytes = checked(info.ElementCount * dtype.SizeInBytes());
        }
        catch (OverflowException ex)
        {
            throw new ModelFormatException(filePath, name, $"shape [{string.Join(", ", shape)}] is too large", ex);
        }

        if (end - begin != expectedBytes)
        {
            throw new ModelFormatException(
                filePath,
                name,
                $"data_offsets [{begin}, {end}] span {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtypeName} needs {expectedBytes}");
        }

        return new SafetensorsTensor(info, begin, end);
    }

    private static long[] ReadNonNegativeArray(JsonElement element, string key, string name, string filePath)
    {
        if (!element.TryGetProperty(key, out var array) || array.ValueKind != JsonValueKind.Array)
        {
            throw new ModelFormatException(filePath, name, $"header entry has no array '{key}'");
        }

        var values = new long[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var value) || value < 0)
            {
                throw new ModelFormatException(filePath, name, $"'{key}' must hold non-negative integers, found {item.GetRawText()}");
            }

            values[i++] = value;
        }

        return values;
    }

    private static void CheckNoOverlaps(IEnumerable<SafetensorsTensor> tensors, string filePath)
    {
        SafetensorsTensor? previous = null;
        foreach (var tensor in tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.DataBegin))
        {
            if (previous is not null && tensor.DataBegin < previous.DataEnd)
            {
                throw new ModelFormatException(
                    filePath,
                    tensor.Name,
                    $"data_offsets [{tensor.DataBegin}, {tensor.DataEnd}] overlap tensor '{previous.Name}' at [{previous.DataBegin}, {previous.DataEnd}]");
            }

            previous = tensor;
        }
    }
}
