using MInference.Shared.Contracts;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Silo.Grains;

/// <summary>
/// The registry and planner. Its state is rebuilt from silos' reports and registrations, so it is kept
/// in memory: a restarted coordinator hears from silos again as they restart.
/// </summary>
internal sealed class CoordinatorGrain(IClusterMembershipService membership) : Grain, ICoordinatorGrain
{
    private readonly Dictionary<string, (RegisteredModel Model, ModelSpec Spec)> _models = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<DeviceDescriptor>> _devices = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _patterns = new(StringComparer.Ordinal);

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
        ArgumentNullException.ThrowIfNull(request);
        if (!_models.TryGetValue(request.ModelId, out var model))
        {
            throw new ArgumentException(
                $"model '{request.ModelId}' is not registered (known: {string.Join(", ", _models.Keys)})", nameof(request));
        }

        // Devices of silos that membership no longer lists as active are not planned onto.
        var active = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.Name)
            .ToHashSet(StringComparer.Ordinal);
        var devices = _devices.Where(d => active.Contains(d.Key)).SelectMany(d => d.Value).ToList();
        return Task.FromResult(PipelinePlanner.Plan(model.Model, model.Spec, request, devices));
    }

    public Task<string?> GetPatternConfigAsync(string modelId)
        => Task.FromResult(_patterns.GetValueOrDefault(modelId));

    public Task PutPatternConfigAsync(string modelId, string patternConfigJson)
    {
        if (!_models.TryGetValue(modelId, out var model))
        {
            throw new ArgumentException($"model '{modelId}' is not registered", nameof(modelId));
        }

        var config = PatternConfigJson.Parse(patternConfigJson, $"pattern config for '{modelId}'");
        if (config.LayerCount != model.Spec.LayerCount)
        {
            throw new PatternConfigException($"pattern config has {config.LayerCount} layers but model '{modelId}' has {model.Spec.LayerCount}");
        }

        _patterns[modelId] = patternConfigJson;
        return Task.CompletedTask;
    }
}
