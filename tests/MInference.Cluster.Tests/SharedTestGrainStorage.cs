using System.Collections.Concurrent;
using System.Globalization;
using Orleans.Serialization;
using Orleans.Storage;

namespace MInference.Cluster.Tests;

/// <summary>
/// Grain storage that outlives any one silo of an in-process cluster (one dictionary for the process), as
/// Redis does for a deployment: a job whose silo stopped is found, still running, by its next activation.
/// Its version counts the writes of each state of each grain, which the persistence tests read.
/// </summary>
internal sealed class SharedTestGrainStorage(DeepCopier copier) : IGrainStorage
{
    private static readonly ConcurrentDictionary<string, (object State, long Version)> _records = new(StringComparer.Ordinal);

    /// <summary>The stored state <paramref name="stateName"/> of the grain keyed <paramref name="grainKey"/> and how many times it was written.</summary>
    public static (T State, long Writes) Stored<T>(string stateName, string grainKey)
    {
        Assert.True(_records.TryGetValue(stateName + "|" + grainKey, out var stored), $"no '{stateName}' state was written for '{grainKey}'");
        return ((T)stored.State, stored.Version);
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_records.TryGetValue(Key(stateName, grainId), out var stored))
        {
            grainState.State = copier.Copy((T)stored.State);
            grainState.ETag = stored.Version.ToString(CultureInfo.InvariantCulture);
            grainState.RecordExists = true;
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var stored = _records.AddOrUpdate(
            Key(stateName, grainId),
            _ => (copier.Copy(grainState.State)!, 1),
            (_, old) => (copier.Copy(grainState.State)!, old.Version + 1));
        grainState.ETag = stored.Version.ToString(CultureInfo.InvariantCulture);
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        _records.TryRemove(Key(stateName, grainId), out _);
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    private static string Key(string stateName, GrainId grainId) => stateName + "|" + grainId.Key;
}
