namespace MInference.Shared.Contracts;

/// <summary>
/// What to plan: a model, the tokens its KV caches must hold, the chunk size (activation workspace) and,
/// optionally, an exact number of stages (otherwise as few as memory allows). With a <see cref="JobId"/> the
/// coordinator spreads jobs over the pipeline replicas the devices allow (the job's replica is held until
/// <see cref="ICoordinatorGrain.ReleasePlanAsync"/>); <see cref="AvoidSilos"/> leaves out silos the job saw fail.
/// </summary>
[GenerateSerializer, Immutable, Alias("minference.plan-request")]
public sealed record PlanRequest(
    [property: Id(0)] string ModelId,
    [property: Id(1)] long TargetTokens,
    [property: Id(2)] int ChunkTokens,
    [property: Id(3)] int? StageCount = null,
    [property: Id(4)] string? JobId = null,
    [property: Id(5)] IReadOnlyList<string>? AvoidSilos = null);
