using System.Buffers.Binary;
using System.Text;
using MInference.Shared.Models;
using MInference.Shared.Models.Safetensors;

namespace MInference.Shared.Tests.Models;

/// <summary>Crafts safetensors files and model directories (good and deliberately broken) for tests.</summary>
internal static class SafetensorsTestFiles
{
    /// <summary>A small GQA spec: 3 layers, 4 query / 2 KV heads of 4 dims.</summary>
    public static ModelSpec TinySpec(bool qwen2 = false) => new()
    {
        Architecture = qwen2 ? ModelArchitectures.Qwen2 : ModelArchitectures.Llama,
        VocabSize = 40,
        HiddenSize = 16,
        IntermediateSize = 24,
        LayerCount = 3,
        QueryHeadCount = 4,
        KeyValueHeadCount = 2,
        HeadDim = 4,
        RmsNormEpsilon = 1e-5f,
        RopeTheta = 10000f,
        MaxPositionEmbeddings = 1024,
        AttentionBias = qwen2,
        TieWordEmbeddings = qwen2,
    };

    public static string NewDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "minference-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Writes raw bytes: u64 header length (or <paramref name="declaredHeaderLength"/>), the header text, then <paramref name="data"/>.</summary>
    public static void WriteRaw(string path, string header, byte[] data, ulong? declaredHeaderLength = null)
    {
        var headerBytes = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + headerBytes.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredHeaderLength ?? (ulong)headerBytes.Length);
        headerBytes.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + headerBytes.Length);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Seeded random bytes of a tensor in its dtype (finite values).</summary>
    public static byte[] RandomData(TensorInfo info, Random random)
    {
        var values = new float[info.ElementCount];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1);
        }

        var bytes = new byte[info.ElementCount * info.DType.SizeInBytes()];
        switch (info.DType)
        {
            case TensorDType.BFloat16:
                TensorConversion.Float32ToBFloat16(values, bytes);
                break;
            case TensorDType.Float16:
                for (var i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)values[i]);
                }

                break;
            default:
                for (var i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
                }

                break;
        }

        return bytes;
    }

    /// <summary>Writes one safetensors file with the given tensors through <see cref="SafetensorsWriter"/>.</summary>
    public static void WriteFile(string path, IReadOnlyList<(TensorInfo Info, byte[] Data)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var writer = SafetensorsWriter.Create(path, tensors.Select(t => t.Info), metadata);
        foreach (var (info, data) in tensors)
        {
            writer.WriteTensorData(info.Name, 0, data);
        }

        writer.Complete();
    }

    /// <summary>
    /// Writes config.json and the spec's tensors (bf16, random) into <paramref name="directory"/>, split into
    /// <paramref name="shardOf"/>'s shards (one file when null). <paramref name="edit"/> may rename, reshape or
    /// drop tensors (return null) to make the directory malformed. Returns the data written per tensor.
    /// </summary>
    public static Dictionary<string, byte[]> WriteModel(
        string directory,
        ModelSpec spec,
        int seed,
        Func<string, int>? shardOf = null,
        int shardCount = 1,
        Func<TensorInfo, TensorInfo?>? edit = null)
    {
        ModelConfigWriter.WriteDirectory(spec, directory);
        var random = new Random(seed);
        var shards = Enumerable.Range(0, shardCount).Select(_ => new List<(TensorInfo, byte[])>()).ToArray();
        var written = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var expected in ModelTensorNames.Expected(spec))
        {
            var info = new TensorInfo(expected.Name, TensorDType.BFloat16, expected.Shape);
            if (edit is not null)
            {
                var edited = edit(info);
                if (edited is null)
                {
                    continue;
                }

                info = edited;
            }

            var data = RandomData(info, random);
            written[info.Name] = data;
            shards[shardOf?.Invoke(expected.Name) ?? 0].Add((info, data));
        }

        if (shardOf is null)
        {
            WriteFile(Path.Combine(directory, SafetensorsIndex.SingleFileName), shards[0]);
            return written;
        }

        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var s = 0; s < shardCount; s++)
        {
            var name = SafetensorsIndex.ShardFileName(s, shardCount);
            WriteFile(Path.Combine(directory, name), shards[s]);
            foreach (var (info, _) in shards[s])
            {
                map[info.Name] = name;
            }
        }

        new SafetensorsIndex(map, written.Values.Sum(d => (long)d.Length)).Write(Path.Combine(directory, SafetensorsIndex.FileName));
        return written;
    }
}
