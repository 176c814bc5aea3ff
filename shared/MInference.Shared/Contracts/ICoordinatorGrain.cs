namespace MInference.Shared.Contracts;

/// <summary>
/// The cluster's registry and planner (one activation, key <see cref="DefaultKey"/>): models by id,
/// devices by silo, per-model pattern configs, and pipeline plans that split a model's layers over
/// devices by memory. Registered models and pattern configs are persisted (they survive the grain's
/// deactivation and, with Redis storage, a restart of the whole cluster); devices are reported again by
/// the silos.
/// </summary>
[Alias("minference.coordinator")]
public interface ICoordinatorGrain : IGrainWithStringKey
{
    /// <summary>The key of the one coordinator.</summary>
    public const string DefaultKey = "coordinator";

    /// <summary>
    /// Registers (or replaces) a model id; the directory must hold a readable config.json. Throws
    /// <see cref="ArgumentException"/> naming the problem for a bad id (letters, digits and <c>. _ - :</c>,
    /// at most 128 characters) or an unreadable directory. A replacement whose shape its stored pattern
    /// config no longer fits drops that config.
    /// </summary>
    [Alias("register-model")]
    Task<RegisteredModel> RegisterModelAsync(string modelId, string modelDirectory);

    /// <summary>Forgets a model id and its pattern config; false when it was not registered. Jobs already running keep their plan.</summary>
    [Alias("unregister-model")]
    Task<bool> UnregisterModelAsync(string modelId);

    [Alias("get-models")]
    Task<IReadOnlyList<RegisteredModel>> GetModelsAsync();

    /// <summary>A silo reports its devices on start; replaces what that silo reported before.</summary>
    [Alias("register-devices")]
    Task RegisterDevicesAsync(string siloName, IReadOnlyList<DeviceDescriptor> devices);

    /// <summary>Removes a silo's devices (on shutdown or when membership drops it).</summary>
    [Alias("unregister-silo")]
    Task UnregisterSiloAsync(string siloName);

    [Alias("get-devices")]
    Task<IReadOnlyList<DeviceDescriptor>> GetDevicesAsync();

    /// <summary>
    /// Plans the model into stages; throws <see cref="PlanDoesNotFitException"/> when the devices cannot hold it.
    /// With a job id, picks the replica that serves the fewest jobs and holds it for the job.
    /// </summary>
    [Alias("get-plan")]
    Task<PipelinePlan> GetPlanAsync(PlanRequest request);

    /// <summary>Every pipeline replica the active devices allow for the request (disjoint devices), first the one a lone job gets.</summary>
    [Alias("get-replicas")]
    Task<IReadOnlyList<PipelinePlan>> GetReplicasAsync(PlanRequest request);

    /// <summary>Ends a job's hold on its replica (idempotent).</summary>
    [Alias("release-plan")]
    Task ReleasePlanAsync(string jobId);

    /// <summary>The pattern config JSON (format <c>minference-cluster.patterns</c>) of a model, or null.</summary>
    [Alias("get-pattern-config")]
    Task<string?> GetPatternConfigAsync(string modelId);

    /// <summary>Validates and stores a pattern config JSON for a model; throws <see cref="ArgumentException"/> naming the problem when it is malformed or does not fit.</summary>
    [Alias("put-pattern-config")]
    Task PutPatternConfigAsync(string modelId, string patternConfigJson);
}
