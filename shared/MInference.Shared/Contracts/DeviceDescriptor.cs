namespace MInference.Shared.Contracts;

/// <summary>A device a silo offers for stages: its index on the silo, kind (<c>cpu</c>, <c>cuda</c>), name and memory.</summary>
[GenerateSerializer, Immutable, Alias("minference.device")]
public sealed record DeviceDescriptor(
    [property: Id(0)] string SiloName,
    [property: Id(1)] int DeviceIndex,
    [property: Id(2)] string Kind,
    [property: Id(3)] string Name,
    [property: Id(4)] long MemoryBytes)
{
    /// <summary>The key of the stage grain that fronts this device.</summary>
    public string StageKey => StageKeys.Format(SiloName, DeviceIndex);
}
