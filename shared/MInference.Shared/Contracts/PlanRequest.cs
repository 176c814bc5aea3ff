namespace MInference.Shared.Contracts;

/// <summary>
/// What to plan: a model, the tokens its KV caches must hold, the chunk size (activation workspace) and,
/// optionally, an exact number of stages (otherwise as few as memory allows).
/// </summary>
[GenerateSerializer, Immutable, Alias("minference.plan-request")]
public sealed record PlanRequest(
    [property: Id(0)] string ModelId,
    [property: Id(1)] long TargetTokens,
    [property: Id(2)] int ChunkTokens,
    [property: Id(3)] int? StageCount = null);
