using MInference.Shared.Contracts;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using Orleans.Placement;

namespace MInference.Silo.Grains;

/// <summary>
/// The registry and planner. Its state is rebuilt from silos' reports and registrations, so it is kept
/// in memory: a restarted coordinator hears from silos again as they restart. Placed on the silo that
/// first calls it (the first silo to start reports its devices), so losing a later silo leaves it alone.
/// </summary>
[PreferLocalPlacement]
internal sealed class CoordinatorGrain(IClusterMembershipService membership) : Grain, ICoordinatorGrain
{
    private readonly Dictionary<string, (RegisteredModel Model, ModelSpec Spec)> _models = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<DeviceDescriptor>> _devices = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _patterns = new(StringComparer.Ordinal);

    /// <summary>Job id -> the replica (its stage keys joined) it was given, to spread jobs over replicas.</summary>
    private readonly Dictionary<string, string> _holds = new(StringComparer.Ordinal);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Keep the registry alive for the silo's lifetime: idle collection would forget the devices.
        DelayDeactivation(TimeSpan.FromDays(3650));
        return Task.CompletedTask;
    }

    public Task<RegisteredModel> RegisterModelAsync(string modelId, string modelDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelDirectory);
        var spec = ModelConfigReader.ReadDirectory(modelDirectory);
        var model = new RegisteredModel(modelId, Path.GetFullPath(modelDirectory), spec.Architecture, spec.LayerCount, spec.VocabSize);
        _models[modelId] = (model, spec);
        return Task.FromResult(model);
    }

    public Task<IReadOnlyList<RegisteredModel>> GetModelsAsync()
        => Task.FromResult<IReadOnlyList<RegisteredModel>>([.. _models.Values.Select(m => m.Model).OrderBy(m => m.ModelId, StringComparer.Ordinal)]);

    public Task RegisterDevicesAsync(string siloName, IReadOnlyList<DeviceDescriptor> devices)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(siloName);
        ArgumentNullException.ThrowIfNull(devices);
        _devices[siloName] = [.. devices];
        return Task.CompletedTask;
    }

    public Task UnregisterSiloAsync(string siloName)
    {
        _devices.Remove(siloName);
        return Task.CompletedTask;
    }

    /// <summary>Every reported device, including those of silos membership has since dropped.</summary>
    public Task<IReadOnlyList<DeviceDescriptor>> GetDevicesAsync()
        => Task.FromResult<IReadOnlyList<DeviceDescriptor>>([.. _devices.Values.SelectMany(d => d)]);

    public Task<PipelinePlan> GetPlanAsync(PlanRequest request)
    {
        var replicas = Replicas(request);
        if (request.JobId is not { } jobId)
        {
            return Task.FromResult(replicas[0]);
        }

        // The replica serving the fewest jobs; ties go to the earlier (preferred) replica.
        _holds.Remove(jobId);
        var load = _holds.Values.CountBy(k => k, StringComparer.Ordinal).ToDictionary(StringComparer.Ordinal);
        var chosen = replicas.MinBy(r => load.GetValueOrDefault(ReplicaKey(r)))!;
        _holds[jobId] = ReplicaKey(chosen);
        return Task.FromResult(chosen);
    }

    public Task<IReadOnlyList<PipelinePlan>> GetReplicasAsync(PlanRequest request) => Task.FromResult<IReadOnlyList<PipelinePlan>>(Replicas(request));

    public Task ReleasePlanAsync(string jobId)
    {
        _holds.Remove(jobId);
        return Task.CompletedTask;
    }

    public Task<string?> GetPatternConfigAsync(string modelId)
        => Task.FromResult(_patterns.GetValueOrDefault(modelId));

    public Task PutPatternConfigAsync(string modelId, string patternConfigJson)
    {
        if (!_models.TryGetValue(modelId, out var model))
        {
            throw new ArgumentException($"model '{modelId}' is not registered", nameof(modelId));
        }

        try
        {
            ValidatePatternConfig(modelId, model.Spec, patternConfigJson);
        }
        catch (PatternConfigException e)
        {
            // The config's own exception type has no Orleans codec; ArgumentException crosses the wire.
            throw new ArgumentException($"pattern config for '{modelId}' is not usable: {e.Message}", nameof(patternConfigJson));
        }

        _patterns[modelId] = patternConfigJson;
        return Task.CompletedTask;
    }

    /// <summary>Throws <see cref="PatternConfigException"/> naming the problem when the JSON is not a config that fits the model.</summary>
    internal static void ValidatePatternConfig(string modelId, ModelSpec spec, string patternConfigJson)
    {
        var config = PatternConfigJson.Parse(patternConfigJson, $"pattern config for '{modelId}'");
        if (config.LayerCount != spec.LayerCount)
        {
            throw new PatternConfigException($"pattern config has {config.LayerCount} layers but model '{modelId}' has {spec.LayerCount}");
        }

        config.EnsureFits(spec.LayerCount, spec.QueryHeadCount, spec.Architecture);
    }

    private List<PipelinePlan> Replicas(PlanRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!_models.TryGetValue(request.ModelId, out var model))
        {
            throw new ArgumentException(
                $"model '{request.ModelId}' is not registered (known: {string.Join(", ", _models.Keys)})", nameof(request));
        }

        // Devices of silos that membership no longer lists as active, or that the job saw fail, are not planned onto.
        var active = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.Name)
            .ToHashSet(StringComparer.Ordinal);
        active.ExceptWith(request.AvoidSilos ?? []);
        var devices = _devices.Where(d => active.Contains(d.Key)).SelectMany(d => d.Value).ToList();
        return [.. PipelinePlanner.PlanReplicas(model.Model, model.Spec, request, devices)];
    }

    private static string ReplicaKey(PipelinePlan plan) => string.Join('|', plan.Stages.Select(s => s.StageKey));
}
