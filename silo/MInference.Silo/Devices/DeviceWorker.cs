using System.Diagnostics;
using System.Globalization;
using MInference.Engine;
using MInference.Kernels.Backends;
using MInference.Shared.Contracts;
using MInference.Shared.Models;
using MInference.Silo.DataPlane;

namespace MInference.Silo.Devices;

/// <summary>
/// One device's state, outliving stage grain activations: its backend, the layer shards loaded on it
/// and each job's KV cache. Chunks run one at a time per device, off the Orleans scheduler.
/// </summary>
public sealed class DeviceWorker : IDisposable
{
    private readonly IActivationChannel _channel;
    private readonly SemaphoreSlim _computeGate = new(1, 1);
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LoadedShard> _shards = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SequenceKvCache> _jobs = new(StringComparer.Ordinal);

    public DeviceWorker(int deviceIndex, IComputeBackend backend, IActivationChannel channel)
    {
        DeviceIndex = deviceIndex;
        Backend = backend;
        _channel = channel;
    }

    public int DeviceIndex { get; }

    public IComputeBackend Backend { get; }

    /// <summary>Runs one chunk through the requested layers, loading them and opening the job's cache on first use.</summary>
    public async Task<StageChunkResult> RunChunkAsync(StageChunkRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        await _computeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await Task.Run(() => RunChunk(request, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _computeGate.Release();
        }
    }

    /// <summary>Frees a job's KV cache and parked activations; true when it had a cache here.</summary>
    public bool ReleaseJob(string jobId)
    {
        _channel.ReleaseJob(jobId);
        SequenceKvCache? cache;
        lock (_lock)
        {
            if (!_jobs.Remove(jobId, out cache))
            {
                return false;
            }
        }

        cache.Dispose();
        return true;
    }

    public (IReadOnlyList<string> Shards, IReadOnlyList<string> Jobs, long KvBytes) Snapshot()
    {
        lock (_lock)
        {
            var kv = _jobs.Values.Sum(KvBytes);
            return ([.. _shards.Keys.Order(StringComparer.Ordinal)], [.. _jobs.Keys.Order(StringComparer.Ordinal)], kv);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var cache in _jobs.Values)
            {
                cache.Dispose();
            }

            foreach (var shard in _shards.Values)
            {
                shard.Dispose();
            }

            _jobs.Clear();
            _shards.Clear();
        }

        _computeGate.Dispose();
    }

    private StageChunkResult RunChunk(StageChunkRequest request, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var shard = GetOrLoadShard(request.ModelDirectory, new LayerRange(request.FirstLayer, request.EndLayer), cancellationToken);
        var sequence = GetOrOpenSequence(request, shard);
        SpanResult result;
        if (request.TokenIds is { } tokens)
        {
            result = shard.RunSpan(sequence, tokens, cancellationToken);
        }
        else
        {
            var ticket = request.Input
                ?? throw new ArgumentException($"chunk {request.ChunkIndex} of job '{request.JobId}' carries neither token ids nor an activation ticket", nameof(request));
            var hidden = _channel.Take(ticket, Backend);
            try
            {
                result = shard.RunSpan(sequence, hidden, cancellationToken);
            }
            catch
            {
                hidden.Dispose();
                throw;
            }
        }

        if (shard.IsLastStage)
        {
            using (result)
            {
                return new StageChunkResult(null, result.Logits, watch.Elapsed.TotalMilliseconds);
            }
        }

        var output = _channel.Publish(request.JobId, request.ChunkIndex, result.HiddenStates, Backend);
        return new StageChunkResult(output, null, watch.Elapsed.TotalMilliseconds);
    }

    private ModelShard GetOrLoadShard(string directory, LayerRange layers, CancellationToken cancellationToken)
    {
        var key = string.Create(CultureInfo.InvariantCulture, $"{directory}#{layers.Start}-{layers.End}");
        lock (_lock)
        {
            if (_shards.TryGetValue(key, out var loaded))
            {
                return loaded.Shard;
            }
        }

        // Loading runs under the compute gate, so no second load of the same key can race this one.
        var weights = SafetensorsModelWeights.Open(directory, layers.Start, layers.End);
        try
        {
            var shard = ModelShard.Load(weights, layers, Backend, cancellationToken: cancellationToken);
            lock (_lock)
            {
                _shards[key] = new LoadedShard(weights, shard);
            }

            return shard;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    private SequenceKvCache GetOrOpenSequence(StageChunkRequest request, ModelShard shard)
    {
        lock (_lock)
        {
            if (_jobs.TryGetValue(request.JobId, out var existing))
            {
                if (!existing.Layers.Equals(shard.Layers))
                {
                    throw new InvalidOperationException($"job '{request.JobId}' holds a cache for layers {existing.Layers} here, not {shard.Layers}");
                }

                return existing;
            }

            if (request.ChunkIndex != 0)
            {
                throw new InvalidOperationException(
                    $"chunk {request.ChunkIndex} of job '{request.JobId}' arrived at device {DeviceIndex}, which has no KV cache for the job (it opens on chunk 0)");
            }

            var cache = shard.CreateSequence(request.CapacityTokens);
            _jobs[request.JobId] = cache;
            return cache;
        }
    }

    private long KvBytes(SequenceKvCache cache)
    {
        var layer = cache.Layers.Start;
        var key = cache.KeyCache(layer);
        return 2L * cache.Layers.Count * cache.Capacity * key.Columns * key.DType.SizeInBytes();
    }

    private sealed record LoadedShard(SafetensorsModelWeights Weights, ModelShard Shard) : IDisposable
    {
        public void Dispose()
        {
            Shard.Dispose();
            Weights.Dispose();
        }
    }
}
