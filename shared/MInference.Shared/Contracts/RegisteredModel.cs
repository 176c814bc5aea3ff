namespace MInference.Shared.Contracts;

/// <summary>A model id the coordinator knows, its directory and the figures planning needs.</summary>
[GenerateSerializer, Immutable, Alias("minference.registered-model")]
public sealed record RegisteredModel(
    [property: Id(0)] string ModelId,
    [property: Id(1)] string Directory,
    [property: Id(2)] string Architecture,
    [property: Id(3)] int LayerCount,
    [property: Id(4)] int VocabSize);
