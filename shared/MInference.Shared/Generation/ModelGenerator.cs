using System.Globalization;
using System.Text;
using MInference.Shared.Models;
using MInference.Shared.Models.Safetensors;
using MInference.Shared.Tokenization;

namespace MInference.Shared.Generation;

/// <summary>
/// Writes a Hugging Face model directory with seeded random bf16 weights: config.json,
/// generation_config.json, model.safetensors (or shards plus model.safetensors.index.json) and the
/// byte-level tokenizer's files. The bytes depend only on (spec, seed): every element comes from
/// <see cref="CounterBasedRandom"/> keyed by (seed, tensor name, index), so tensors are generated in
/// parallel chunks straight into the files, without holding a tensor in memory.
/// </summary>
public static class ModelGenerator
{
    /// <summary>Elements generated per work item: 4 MiB of f32 scratch per thread, enough to amortise a write call.</summary>
    public const int ChunkElements = 1 << 20;

    public const string GenerationConfigFileName = "generation_config.json";

    /// <summary>Metadata keys recorded in every weight file.</summary>
    public const string SeedMetadataKey = "minference.seed";

    public const string ShapeMetadataKey = "minference.shape";

    public static GeneratedModel Generate(
        ModelSpec spec,
        string outputDirectory,
        ulong seed,
        ModelGeneratorOptions? options = null,
        IProgress<ModelGenerationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        options ??= new ModelGeneratorOptions();
        if (options.MaxShardBytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxShardBytes, "MaxShardBytes must be positive");
        }

        var configJson = ModelConfigWriter.ToJson(spec);
        Directory.CreateDirectory(outputDirectory);
        File.WriteAllText(Path.Combine(outputDirectory, ModelConfigReader.ConfigFileName), configJson, new UTF8Encoding(false));
        File.WriteAllText(Path.Combine(outputDirectory, GenerationConfigFileName), GenerationConfigJson(spec), new UTF8Encoding(false));
        ByteLevelTokenizer.WriteFiles(outputDirectory);

        var tensors = ModelTensorNames.Expected(spec)
            .Select(t => new TensorInfo(t.Name, TensorDType.BFloat16, t.Shape))
            .ToList();
        var shards = PlanShards(tensors, options.MaxShardBytes);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            // transformers refuses safetensors files whose metadata lacks format=pt.
            ["format"] = "pt",
            [SeedMetadataKey] = seed.ToString(CultureInfo.InvariantCulture),
        };
        if (options.ShapeName is not null)
        {
            metadata[ShapeMetadataKey] = options.ShapeName;
        }

        var fileNames = shards.Count == 1
            ? [SafetensorsIndex.SingleFileName]
            : Enumerable.Range(0, shards.Count).Select(s => SafetensorsIndex.ShardFileName(s, shards.Count)).ToList();
        var totalBytes = tensors.Sum(t => t.ElementCount * 2);

        var writers = new List<SafetensorsWriter>();
        try
        {
            for (var s = 0; s < shards.Count; s++)
            {
                writers.Add(SafetensorsWriter.Create(Path.Combine(outputDirectory, fileNames[s]), shards[s], metadata));
            }

            var work = new List<(SafetensorsWriter Writer, TensorInfo Tensor, long FirstElement, int Count)>();
            for (var s = 0; s < shards.Count; s++)
            {
                foreach (var tensor in shards[s])
                {
                    for (long first = 0; first < tensor.ElementCount; first += ChunkElements)
                    {
                        work.Add((writers[s], tensor, first, (int)Math.Min(ChunkElements, tensor.ElementCount - first)));
                    }
                }
            }

            long written = 0;
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = cancellationToken };
            Parallel.ForEach(
                work,
                parallel,
                () => (Values: new float[ChunkElements], Bytes: new byte[ChunkElements * 2]),
                (item, _, scratch) =>
                {
                    var values = scratch.Values.AsSpan(0, item.Count);
                    var bytes = scratch.Bytes.AsSpan(0, item.Count * 2);
                    FillTensor(spec, seed, item.Tensor.Name, item.Tensor.Shape, item.FirstElement, values);
                    TensorConversion.Float32ToBFloat16(values, bytes);
                    item.Writer.WriteTensorData(item.Tensor.Name, item.FirstElement * 2, bytes);
                    progress?.Report(new ModelGenerationProgress(Interlocked.Add(ref written, bytes.Length), totalBytes));
                    return scratch;
                },
                _ => { });

            foreach (var writer in writers)
            {
                writer.Complete();
            }
        }
        finally
        {
            foreach (var writer in writers)
            {
                writer.Dispose();
            }
        }

        if (shards.Count > 1)
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var s = 0; s < shards.Count; s++)
            {
                foreach (var tensor in shards[s])
                {
                    map[tensor.Name] = fileNames[s];
                }
            }

            new SafetensorsIndex(map, totalBytes).Write(Path.Combine(outputDirectory, SafetensorsIndex.FileName));
        }

        return new GeneratedModel(outputDirectory, spec, seed, fileNames, tensors.Count, totalBytes);
    }

    /// <summary>
    /// The f32 values (before bf16 rounding) of elements [<paramref name="firstElement"/>, +length) of one
    /// tensor of a generated model. Public so tests and tools can recompute any element without the files.
    /// </summary>
    public static void FillTensor(ModelSpec spec, ulong seed, string tensorName, long[] shape, long firstElement, Span<float> destination)
    {
        var distribution = WeightDistribution.For(spec, tensorName, shape);
        CounterBasedRandom.FillUniform(CounterBasedRandom.TensorKey(seed, tensorName), firstElement, distribution.HalfWidth, distribution.Offset, destination);
    }

    /// <summary>Consecutive tensors (in <see cref="ModelTensorNames.Expected(ModelSpec)"/> order) per shard, each shard at most maxShardBytes unless one tensor alone is larger.</summary>
    private static List<List<TensorInfo>> PlanShards(List<TensorInfo> tensors, long maxShardBytes)
    {
        var shards = new List<List<TensorInfo>> { new() };
        long current = 0;
        foreach (var tensor in tensors)
        {
            var bytes = tensor.ElementCount * 2;
            if (current > 0 && current + bytes > maxShardBytes)
            {
                shards.Add([]);
                current = 0;
            }

            shards[^1].Add(tensor);
            current += bytes;
        }

        return shards;
    }

    private static string GenerationConfigJson(ModelSpec spec)
    {
        static string Id(int? id) => id?.ToString(CultureInfo.InvariantCulture) ?? "null";
        return $$"""
            {
              "_from_model_config": true,
              "bos_token_id": {{Id(spec.BeginOfSequenceTokenId)}},
              "eos_token_id": {{Id(spec.EndOfSequenceTokenId)}},
              "do_sample": false,
              "transformers_version": "4.45.0"
            }

            """;
    }
}
