namespace MInference.Shared.Contracts;

/// <summary>
/// One chunk for one stage: the first stage gets <see cref="TokenIds"/>, the others the previous stage's
/// <see cref="Input"/> ticket. <see cref="CapacityTokens"/> sizes the job's KV cache on its first chunk.
/// <see cref="ConsumerSilo"/> names the silo of the next stage, so the output stays in process when it
/// is the same silo and is parked in the TCP data plane otherwise. <see cref="PatternConfigJson"/>
/// (read on chunk 0) picks the sparse patterns the stage's layers run with; null runs them dense.
/// </summary>
[GenerateSerializer, Immutable, Alias("minference.stage-chunk-request")]
public sealed record StageChunkRequest(
    [property: Id(0)] string JobId,
    [property: Id(1)] int ChunkIndex,
    [property: Id(2)] string ModelDirectory,
    [property: Id(3)] int FirstLayer,
    [property: Id(4)] int EndLayer,
    [property: Id(5)] long CapacityTokens,
    [property: Id(6)] int[]? TokenIds,
    [property: Id(7)] ActivationTicket? Input,
    [property: Id(8)] string? ConsumerSilo = null,
    [property: Id(9)] string? PatternConfigJson = null);

/// <summary>What a stage hands on: a ticket for the next stage, or (last stage) the last position's logits.</summary>
[GenerateSerializer, Immutable, Alias("minference.stage-chunk-result")]
public sealed record StageChunkResult(
    [property: Id(0)] ActivationTicket? Output,
    [property: Id(1)] float[]? Logits,
    [property: Id(2)] double ElapsedMilliseconds,
    [property: Id(3)] IReadOnlyList<LayerDensity>? Density = null);

/// <summary>
/// A stage's device and what it holds: loaded layer shards, open jobs and their KV bytes, activations it
/// parked and not yet handed on, chunks queued or running on it, and the data-plane transfers its silo
/// has served and fetched over TCP since start.
/// </summary>
[GenerateSerializer, Immutable, Alias("minference.stage-status")]
public sealed record StageStatus(
    [property: Id(0)] string StageKey,
    [property: Id(1)] IReadOnlyList<string> LoadedShards,
    [property: Id(2)] IReadOnlyList<string> OpenJobs,
    [property: Id(3)] long KvBytes,
    [property: Id(4)] int PendingTransfers,
    [property: Id(5)] int QueuedChunks = 0,
    [property: Id(6)] long TcpTransfersFetched = 0,
    [property: Id(7)] long TcpBytesFetched = 0);
