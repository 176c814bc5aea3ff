namespace MInference.Shared.Contracts;

/// <summary>
/// A completed job: the top next tokens after the document (and optionally all their logits), the greedy
/// tokens generated after it when the submission asked for any (and their text, when every id has one), timings, the attention density per layer,
/// and with <see cref="KvRetention.Export"/> the KV files the stages wrote (one per layer, in layer order, paths on the stages' silos).
/// </summary>
[GenerateSerializer, Immutable, Alias("minference.job-result")]
public sealed record JobResult(
    [property: Id(0)] string JobId,
    [property: Id(1)] IReadOnlyList<TokenScore> TopTokens,
    [property: Id(2)] float[]? Logits,
    [property: Id(3)] JobTimings Timings,
    [property: Id(4)] IReadOnlyList<StageAssignment> Stages,
    [property: Id(5)] IReadOnlyList<LayerDensity>? Density = null,
    [property: Id(6)] IReadOnlyList<int>? GeneratedTokenIds = null,
    [property: Id(7)] string? GeneratedText = null,
    [property: Id(8)] IReadOnlyList<string>? KvFiles = null);

/// <summary>A next-token candidate: its id, logit and softmax probability.</summary>
[GenerateSerializer, Immutable, Alias("minference.token-score")]
public sealed record TokenScore(
    [property: Id(0)] int TokenId,
    [property: Id(1)] float Logit,
    [property: Id(2)] double Probability);

/// <summary>Time queued, time running, throughput, and compute milliseconds per stage (summed over chunks).</summary>
[GenerateSerializer, Immutable, Alias("minference.job-timings")]
public sealed record JobTimings(
    [property: Id(0)] double QueuedMilliseconds,
    [property: Id(1)] double RunMilliseconds,
    [property: Id(2)] double TokensPerSecond,
    [property: Id(3)] IReadOnlyList<double> StageMilliseconds);
