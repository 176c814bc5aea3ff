using Orleans.Placement;

namespace MInference.Silo.Placement;

/// <summary>Marks a grain class as pinned by <see cref="StagePlacementStrategy"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class StagePlacementAttribute : PlacementAttribute
{
    public StagePlacementAttribute()
        : base(StagePlacementStrategy.Singleton)
    {
    }
}
