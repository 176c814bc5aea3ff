namespace MInference.Shared.Generation;

/// <summary>Options of <see cref="ModelGenerator.Generate"/>.</summary>
public sealed class ModelGeneratorOptions
{
    /// <summary>Default <see cref="MaxShardBytes"/>: about 2 GB per shard, as transformers' save_pretrained does by default for large models.</summary>
    public const long DefaultMaxShardBytes = 2_000_000_000;

    /// <summary>A new shard starts when the next tensor would push the current one past this. Default <see cref="DefaultMaxShardBytes"/>.</summary>
    public long MaxShardBytes { get; init; } = DefaultMaxShardBytes;

    /// <summary>Threads generating in parallel. Default: all processors. The output does not depend on it.</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>The shape name recorded in the weight files' metadata (informational), e.g. "tiny".</summary>
    public string? ShapeName { get; init; }
}
