
namespace MInference.Silo.Placement;

/// <summary>Places a stage grain on the silo named in its key <c>"{siloName}/{deviceIndex}"</c>, or nowhere.</summary>
[GenerateSerializer, Immutable, Alias("minference.stage-placement")]
public sealed class StagePlacementStrategy : PlacementStrategy
{
    internal static StagePlacementStrategy Singleton { get; } = new();
}
