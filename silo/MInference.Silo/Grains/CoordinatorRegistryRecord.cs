using MInference.Shared.Contracts;

namespace MInference.Silo.Grains;

/// <summary>
/// What the coordinator persists: the models clients registered and the per-model pattern configs (facts
/// only a client states, once), and the devices silos reported. Devices come again every few seconds, but
/// a new activation that waited for them would fail every job planned meanwhile ("no devices are
/// registered"); planning uses only the devices of silos membership lists as active, so entries of silos
/// that are gone do no harm. Replica holds are not kept: jobs take new ones as they re-plan.
/// </summary>
[GenerateSerializer, Alias("minference.coordinator-registry-record")]
public sealed class CoordinatorRegistryRecord
{
    /// <summary>Model id -> the registration (its directory and shape at registration).</summary>
    [Id(0)] public Dictionary<string, RegisteredModel> Models { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Model id -> pattern config JSON (format <c>minference-cluster.patterns</c>), validated against the model when put.</summary>
    [Id(1)] public Dictionary<string, string> Patterns { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Silo name -> the devices it reported last.</summary>
    [Id(2)] public Dictionary<string, DeviceDescriptor[]> Devices { get; set; } = new(StringComparer.Ordinal);
}
