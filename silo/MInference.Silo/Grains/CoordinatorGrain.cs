using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using MInference.Shared.Contracts;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using MInference.Silo.Hosting;
using Orleans.Placement;
using Orleans.Storage;

namespace MInference.Silo.Grains;

/// <summary>
/// The registry and planner. Registered models, pattern configs and reported devices are persisted
/// (<see cref="CoordinatorRegistryRecord"/> in <see cref="MInferenceSiloBuilderExtensions.RegistryStorageName"/>:
/// memory in embedded mode, Redis in deployments), so a new activation plans at once; a write happens only
/// when something changed (silos report the same devices every few seconds). Replica holds stay in
/// memory: jobs take new ones as they re-plan. Placed on the silo that first calls it (the first silo to
/// start reports its devices), so losing a later silo leaves it alone.
/// </summary>
[PreferLocalPlacement]
internal sealed partial class CoordinatorGrain(
    [PersistentState(CoordinatorGrain.RegistryStateName, MInferenceSiloBuilderExtensions.RegistryStorageName)] IPersistentState<CoordinatorRegistryRecord> registry,
    IClusterMembershipService membership,
    ILogger<CoordinatorGrain> logger) : Grain, ICoordinatorGrain
{
    /// <summary>Persistent state of the registry (<see cref="CoordinatorRegistryRecord"/>).</summary>
    public const string RegistryStateName = "registry";

    /// <summary>Longest model id; ids key stored records and appear in logs and stage requests.</summary>
    public const int MaxModelIdLength = 128;

    /// <summary>Model id -> the spec read from its directory (and that directory), read again when the registration's directory changes.</summary>
    private readonly Dictionary<string, (string Directory, ModelSpec Spec)> _specs = new(StringComparer.Ordinal);

    /// <summary>Job id -> the replica (its stage keys joined) it was given, to spread jobs over replicas.</summary>
    private readonly Dictionary<string, string> _holds = new(StringComparer.Ordinal);

    private readonly ILogger _logger = logger;

    private Dictionary<string, RegisteredModel> Models => registry.State.Models;

    private Dictionary<string, string> Patterns => registry.State.Patterns;

    private Dictionary<string, DeviceDescriptor[]> Devices => registry.State.Devices;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Keep the registry alive for the silo's lifetime: idle collection would forget the devices.
        DelayDeactivation(TimeSpan.FromDays(3650));
        if (registry.RecordExists)
        {
            LogRegistryRestored(Models.Count, Patterns.Count, Devices.Count);
        }

        return Task.CompletedTask;
    }

    public async Task<RegisteredModel> RegisterModelAsync(string modelId, string modelDirectory)
    {
        ValidateModelId(modelId);
        if (string.IsNullOrWhiteSpace(modelDirectory))
        {
            throw new ArgumentException($"model '{modelId}' needs a directory (it is empty)", nameof(modelDirectory));
        }

        var directory = Path.GetFullPath(modelDirectory);
        ModelSpec spec;
        try
        {
            spec = ModelConfigReader.ReadDirectory(directory);
        }
        catch (Exception e) when (e is ModelFormatException or IOException or UnauthorizedAccessException)
        {
            // The reader's own exception type has no Orleans codec; ArgumentException crosses the wire.
            throw new ArgumentException($"model '{modelId}' cannot be registered from '{directory}': {e.Message}", nameof(modelDirectory));
        }

        var model = new RegisteredModel(modelId, directory, spec.Architecture, spec.LayerCount, spec.VocabSize);
        _specs[modelId] = (directory, spec);
        // Silos register their configured models again every few seconds: an unchanged registration writes nothing.
        if (Models.TryGetValue(modelId, out var existing) && existing == model)
        {
            return model;
        }

        // A re-registration with another shape may orphan the model's pattern config; it goes with a warning.
        var dropPatterns = Patterns.TryGetValue(modelId, out var json) && !Fits(modelId, spec, json);
        await UpdateAsync(state =>
        {
            state.Models[modelId] = model;
            if (dropPatterns)
            {
                state.Patterns.Remove(modelId);
            }
        });
        if (dropPatterns)
        {
            LogPatternsDropped(modelId, directory);
        }

        LogModelRegistered(modelId, directory, spec.LayerCount);
        return model;
    }

    public async Task<bool> UnregisterModelAsync(string modelId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelId);
        if (!Models.ContainsKey(modelId))
        {
            return false;
        }

        await UpdateAsync(state =>
        {
            state.Models.Remove(modelId);
            state.Patterns.Remove(modelId);
        });
        _specs.Remove(modelId);
        LogModelUnregistered(modelId);
        return true;
    }

    public Task<IReadOnlyList<RegisteredModel>> GetModelsAsync()
        => Task.FromResult<IReadOnlyList<RegisteredModel>>([.. Models.Values.OrderBy(m => m.ModelId, StringComparer.Ordinal)]);

    public async Task RegisterDevicesAsync(string siloName, IReadOnlyList<DeviceDescriptor> devices)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(siloName);
        ArgumentNullException.ThrowIfNull(devices);
        if (devices.FirstOrDefault(d => !string.Equals(d.SiloName, siloName, StringComparison.Ordinal)) is { } foreign)
        {
            throw new ArgumentException($"silo '{siloName}' reported device {foreign.StageKey}, which belongs to silo '{foreign.SiloName}'", nameof(devices));
        }

        if (Devices.TryGetValue(siloName, out var known) && known.SequenceEqual(devices))
        {
            return;
        }

        DeviceDescriptor[] copy = [.. devices];
        await UpdateAsync(state => state.Devices[siloName] = copy);
    }

    public async Task UnregisterSiloAsync(string siloName)
    {
        if (Devices.ContainsKey(siloName))
        {
            await UpdateAsync(state => state.Devices.Remove(siloName));
        }
    }

    /// <summary>Every reported device, including those of silos membership has since dropped.</summary>
    public Task<IReadOnlyList<DeviceDescriptor>> GetDevicesAsync()
        => Task.FromResult<IReadOnlyList<DeviceDescriptor>>([.. Devices.Values.SelectMany(d => d)]);

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
        => Task.FromResult(Patterns.GetValueOrDefault(modelId));

    public async Task PutPatternConfigAsync(string modelId, string patternConfigJson)
    {
        if (!Models.TryGetValue(modelId, out var model))
        {
            throw new ArgumentException($"model '{modelId}' is not registered (known: {Known()})", nameof(modelId));
        }

        if (string.IsNullOrWhiteSpace(patternConfigJson))
        {
            throw new ArgumentException($"pattern config for '{modelId}' is empty", nameof(patternConfigJson));
        }

        try
        {
            ValidatePatternConfig(modelId, Spec(model), patternConfigJson);
        }
        catch (PatternConfigException e)
        {
            // The config's own exception type has no Orleans codec; ArgumentException crosses the wire.
            throw new ArgumentException($"pattern config for '{modelId}' is not usable: {e.Message}", nameof(patternConfigJson));
        }

        if (Patterns.TryGetValue(modelId, out var existing) && string.Equals(existing, patternConfigJson, StringComparison.Ordinal))
        {
            return;
        }

        await UpdateAsync(state => state.Patterns[modelId] = patternConfigJson);
        LogPatternsStored(modelId, patternConfigJson.Length);
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

    /// <summary>Ids key stored records, logs and metrics: letters, digits and <c>. _ - :</c>, at most <see cref="MaxModelIdLength"/> characters.</summary>
    internal static void ValidateModelId(string modelId)
    {
        if (string.IsNullOrWhiteSpace(modelId))
        {
            throw new ArgumentException("the model id is empty", nameof(modelId));
        }

        if (modelId.Length > MaxModelIdLength)
        {
            throw new ArgumentException($"model id '{modelId[..16]}...' has {modelId.Length} characters; at most {MaxModelIdLength} are allowed", nameof(modelId));
        }

        if (!ModelIdPattern().IsMatch(modelId))
        {
            throw new ArgumentException($"model id '{modelId}' may hold only letters, digits and '.', '_', '-', ':'", nameof(modelId));
        }
    }

    private static bool Fits(string modelId, ModelSpec spec, string patternConfigJson)
    {
        try
        {
            ValidatePatternConfig(modelId, spec, patternConfigJson);
            return true;
        }
        catch (PatternConfigException)
        {
            return false;
        }
    }

    /// <summary>
    /// Applies a change to the persisted registry and writes it. When another activation of the coordinator
    /// wrote in between (a duplicate activation while silos join), starts once more from what it stored;
    /// when the write fails otherwise, the state goes back to what storage holds and the caller sees the error.
    /// </summary>
    private async Task UpdateAsync(Action<CoordinatorRegistryRecord> change)
    {
        for (var attempt = 1; ; attempt++)
        {
            change(registry.State);
            try
            {
                await registry.WriteStateAsync();
                return;
            }
            catch (InconsistentStateException) when (attempt == 1)
            {
                await registry.ReadStateAsync();
            }
            catch
            {
                await registry.ReadStateAsync();
                throw;
            }
        }
    }

    /// <summary>The spec of a registered model, read from its directory once per activation (and again when the registration moved).</summary>
    private ModelSpec Spec(RegisteredModel model)
    {
        if (_specs.TryGetValue(model.ModelId, out var cached) && string.Equals(cached.Directory, model.Directory, StringComparison.Ordinal))
        {
            return cached.Spec;
        }

        ModelSpec spec;
        try
        {
            spec = ModelConfigReader.ReadDirectory(model.Directory);
        }
        catch (Exception e) when (e is ModelFormatException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"model '{model.ModelId}' is registered at '{model.Directory}', which cannot be read now: {e.Message}", nameof(model));
        }

        _specs[model.ModelId] = (model.Directory, spec);
        return spec;
    }

    private List<PipelinePlan> Replicas(PlanRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!Models.TryGetValue(request.ModelId, out var model))
        {
            throw new ArgumentException($"model '{request.ModelId}' is not registered (known: {Known()})", nameof(request));
        }

        // Devices of silos that membership no longer lists as active, or that the job saw fail, are not planned onto.
        var active = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.Name)
            .ToHashSet(StringComparer.Ordinal);
        active.ExceptWith(request.AvoidSilos ?? []);
        var devices = Devices.Where(d => active.Contains(d.Key)).SelectMany(d => d.Value).ToList();
        return [.. PipelinePlanner.PlanReplicas(model, Spec(model), request, devices)];
    }

    private string Known() => Models.Count == 0 ? "none" : string.Join(", ", Models.Keys.Order(StringComparer.Ordinal));

    private static string ReplicaKey(PipelinePlan plan) => string.Join('|', plan.Stages.Select(s => s.StageKey));

    [GeneratedRegex("^[A-Za-z0-9._:-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex ModelIdPattern();

    [LoggerMessage(EventId = 4400, Level = LogLevel.Information, Message = "Coordinator restored {Models} registered model(s), {Patterns} pattern config(s) and the devices of {Silos} silo(s) from storage")]
    private partial void LogRegistryRestored(int models, int patterns, int silos);

    [LoggerMessage(EventId = 4401, Level = LogLevel.Information, Message = "Model {ModelId} registered at {Directory} ({Layers} layers)")]
    private partial void LogModelRegistered(string modelId, string directory, int layers);

    [LoggerMessage(EventId = 4402, Level = LogLevel.Information, Message = "Model {ModelId} unregistered (with its pattern config)")]
    private partial void LogModelUnregistered(string modelId);

    [LoggerMessage(EventId = 4403, Level = LogLevel.Warning, Message = "Model {ModelId} was registered again at {Directory} with a shape its stored pattern config does not fit; the config was dropped")]
    private partial void LogPatternsDropped(string modelId, string directory);

    [LoggerMessage(EventId = 4404, Level = LogLevel.Information, Message = "Pattern config of model {ModelId} stored ({Characters} characters)")]
    private partial void LogPatternsStored(string modelId, int characters);
}
