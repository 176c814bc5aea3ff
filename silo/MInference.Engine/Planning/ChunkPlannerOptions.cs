namespace MInference.Engine.Planning;

/// <summary>Bounds of the chunks <see cref="ChunkPlanner"/> chooses.</summary>
public sealed class ChunkPlannerOptions
{
    /// <summary>Chunk sizes are multiples of this (one query block of the sparse kernels), so chunk starts stay block-aligned.</summary>
    public const int Granularity = 64;

    /// <summary>Default for <see cref="MinChunkTokens"/>.</summary>
    public const int DefaultMinChunkTokens = 512;

    /// <summary>Default for <see cref="MaxChunkTokens"/>.</summary>
    public const int DefaultMaxChunkTokens = 32768;

    /// <summary>
    /// Smallest chunk (except the document's last, which takes what is left): below it per-chunk overheads
    /// (launches, transfers, estimation) dominate. A multiple of <see cref="Granularity"/>. Default: <see cref="DefaultMinChunkTokens"/>.
    /// </summary>
    public int MinChunkTokens { get; set; } = DefaultMinChunkTokens;

    /// <summary>
    /// Largest chunk: bounds the activations a stage holds for one chunk. A multiple of
    /// <see cref="Granularity"/>, at least <see cref="MinChunkTokens"/>. Default: <see cref="DefaultMaxChunkTokens"/>.
    /// </summary>
    public int MaxChunkTokens { get; set; } = DefaultMaxChunkTokens;

    /// <summary>Throws naming the bad setting and its limit.</summary>
    public void Validate()
    {
        Check(MinChunkTokens, nameof(MinChunkTokens), DefaultMinChunkTokens);
        Check(MaxChunkTokens, nameof(MaxChunkTokens), DefaultMaxChunkTokens);
        if (MaxChunkTokens < MinChunkTokens)
        {
            throw new ArgumentOutOfRangeException(
                nameof(MaxChunkTokens), MaxChunkTokens, $"ChunkPlannerOptions.MaxChunkTokens ({MaxChunkTokens}) is below MinChunkTokens ({MinChunkTokens})");
        }
    }

    private static void Check(int value, string name, int fallback)
    {
        if (value < Granularity || value % Granularity != 0)
        {
            throw new ArgumentOutOfRangeException(
                name, value, $"ChunkPlannerOptions.{name} is {value} but must be a positive multiple of {Granularity} tokens (default {fallback})");
        }
    }
}
