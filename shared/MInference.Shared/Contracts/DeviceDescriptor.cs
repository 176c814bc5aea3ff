namespace MInference.Shared.Contracts;

/// <summary>A device a silo offers for stages: its index on the silo, kind (<see cref="CpuKind"/>, <see cref="CudaKind"/>), name and memory.</summary>
[GenerateSerializer, Immutable, Alias("minference.device")]
public sealed record DeviceDescriptor(
    [property: Id(0)] string SiloName,
    [property: Id(1)] int DeviceIndex,
    [property: Id(2)] string Kind,
    [property: Id(3)] string Name,
    [property: Id(4)] long MemoryBytes)
{
    /// <summary>The <see cref="Kind"/> of a CPU "device": a share of the host's cores.</summary>
    public const string CpuKind = "cpu";

    /// <summary>The <see cref="Kind"/> of a CUDA GPU.</summary>
    public const string CudaKind = "cuda";

    /// <summary>The key of the stage grain that fronts this device.</summary>
    public string StageKey => StageKeys.Format(SiloName, DeviceIndex);
}
