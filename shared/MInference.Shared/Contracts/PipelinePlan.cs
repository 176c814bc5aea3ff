namespace MInference.Shared.Contracts;

/// <summary>A model's layers split into consecutive stages, each on one device.</summary>
[GenerateSerializer, Immutable, Alias("minference.pipeline-plan")]
public sealed record PipelinePlan(
    [property: Id(0)] string ModelId,
    [property: Id(1)] string ModelDirectory,
    [property: Id(2)] long TargetTokens,
    [property: Id(3)] IReadOnlyList<StageAssignment> Stages);

/// <summary>Layers <c>[FirstLayer, EndLayer)</c> on the device behind <see cref="StageKey"/>, with the bytes planned for them.</summary>
[GenerateSerializer, Immutable, Alias("minference.stage-assignment")]
public sealed record StageAssignment(
    [property: Id(0)] string StageKey,
    [property: Id(1)] int FirstLayer,
    [property: Id(2)] int EndLayer,
    [property: Id(3)] long PlannedBytes,
    [property: Id(4)] long DeviceMemoryBytes);
