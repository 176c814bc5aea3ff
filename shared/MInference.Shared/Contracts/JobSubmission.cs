namespace MInference.Shared.Contracts;

/// <summary>
/// A document to pre-fill: token ids, or <see cref="Text"/> (with empty <see cref="TokenIds"/>), which the
/// silo tokenizes with the model's own tokenizer at submission (<see cref="FromText"/>). <see cref="StageCount"/> forces a pipeline depth; <see cref="IncludeLogits"/> returns
/// the whole last-position logits vector besides the top tokens. <see cref="PatternConfig"/> picks the
/// sparse patterns: null uses the config registered for the model with the coordinator (dense when none),
/// <see cref="DensePatternConfig"/> runs dense, and a JSON document (format
/// <c>minference-cluster.patterns</c>) is used for this job only. With <see cref="DynamicChunks"/> the
/// document is cut into about as many chunks as <see cref="ChunkTokens"/> gives, sized so each costs about
/// the same (later chunks attend over a longer prefix, so they are shorter). <see cref="MaxNewTokens"/>
/// greedy tokens are generated after the pre-fill, one position at a time through the same pipeline and
/// KV caches (0: pre-fill only). <see cref="KvRetention"/> says what the stages do with the job's KV caches
/// once it completed (free them, keep them until <see cref="IJobGrain.ReleaseKvAsync"/>, or export them to
/// <see cref="KvExportDirectory"/>).
/// </summary>
[GenerateSerializer, Immutable, Alias("minference.job-submission")]
public sealed record JobSubmission(
    [property: Id(0)] string ModelId,
    [property: Id(1)] int[] TokenIds,
    [property: Id(2)] int ChunkTokens = JobSubmission.DefaultChunkTokens,
    [property: Id(3)] int TopK = JobSubmission.DefaultTopK,
    [property: Id(4)] int? StageCount = null,
    [property: Id(5)] bool IncludeLogits = false,
    [property: Id(6)] string? PatternConfig = null,
    [property: Id(7)] bool DynamicChunks = false,
    [property: Id(8)] int MaxNewTokens = 0,
    [property: Id(9)] string? Text = null,
    [property: Id(10)] KvRetention KvRetention = KvRetention.Release,
    [property: Id(11)] string? KvExportDirectory = null)
{
    /// <summary>A submission of <paramref name="text"/>, tokenized by the silo with <paramref name="modelId"/>'s tokenizer; set other options with <c>with</c>.</summary>
    public static JobSubmission FromText(string modelId, string text) => new(modelId, [], Text: text);

    /// <summary>Most tokens one job may generate (each is one pass through every stage).</summary>
    public const int MaxNewTokensLimit = 4096;

    /// <summary>The <see cref="PatternConfig"/> value that runs every layer dense.</summary>
    public const string DensePatternConfig = "dense";

    public const int DefaultChunkTokens = 2048;

    public const int DefaultTopK = 5;
}
