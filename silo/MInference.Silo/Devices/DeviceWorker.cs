using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using MInference.DataPlane;
using MInference.Engine;
using MInference.Kernels.Backends;
using MInference.Shared.Contracts;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using MInference.Silo.DataPlane;
using MInference.Silo.Diagnostics;

namespace MInference.Silo.Devices;

/// <summary>
/// One device's state, outliving stage grain activations: its backend, the layer shards loaded on it
/// and each job's KV cache. Admits a bounded number of chunks (callers beyond it wait for room), pulls a
/// chunk's input from another silo before taking the device, and runs chunks one at a time off the
/// Orleans scheduler. Hidden states for a stage on this silo stay in process; for another silo they are
/// copied to host memory and parked in the TCP data plane, and from a GPU also exported through CUDA IPC
/// so a GPU stage in another process of this host copies them device to device.
/// </summary>
public sealed partial class DeviceWorker : IDisposable
{
    private readonly IActivationChannel _channel;
    private readonly SiloDataPlane _dataPlane;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _admission;
    private readonly SemaphoreSlim _computeGate = new(1, 1);
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LoadedShard> _shards = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JobSlot> _jobs = new(StringComparer.Ordinal);
    private readonly KeyValuePair<string, object?> _stageTag;
    private readonly IDisposable _kvGauge;
    private int _queued;

    public DeviceWorker(int deviceIndex, IComputeBackend backend, IActivationChannel channel, SiloDataPlane dataPlane, int maxQueuedChunks, string stageKey, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxQueuedChunks, 1);
        DeviceIndex = deviceIndex;
        Backend = backend;
        _channel = channel;
        _dataPlane = dataPlane;
        _logger = logger;
        _admission = new SemaphoreSlim(maxQueuedChunks, maxQueuedChunks);
        _stageTag = new("stage", stageKey);
        _kvGauge = MInferenceMetrics.TrackKvBytes(stageKey, () => Snapshot().KvBytes);
    }

    public int DeviceIndex { get; }

    public IComputeBackend Backend { get; }

    /// <summary>Chunks admitted and not finished (queued for the device or running on it).</summary>
    public int QueuedChunks => Volatile.Read(ref _queued);

    /// <summary>
    /// Runs one chunk through the requested layers, loading them and opening the job's cache on chunk 0.
    /// Waits for room when the stage already holds its maximum of chunks.
    /// </summary>
    public async Task<StageChunkResult> RunChunkAsync(StageChunkRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var activity = MInferenceActivitySource.Source.StartActivity("stage.chunk");
        activity?.SetTag("minference.job", request.JobId);
        activity?.SetTag("minference.chunk", request.ChunkIndex);
        activity?.SetTag("minference.stage", _stageTag.Value);
        var (result, handOff, rows, columns, export) = await AdmitAndRunAsync(request, cancellationToken).ConfigureAwait(false);
        if (handOff is null)
        {
            export?.Dispose();
            return result;
        }

        // Parking for another silo waits for room in this silo's data-plane window. It happens after the
        // chunk left the stage's queue: a producer waiting for its consumer must not hold a slot the
        // consumer's own work (on this device, for another job) may need.
        try
        {
            var length = checked((int)(rows * columns * sizeof(float)));
            var ticket = await _dataPlane.PublishAsync(
                request.JobId, request.ChunkIndex, rows, columns, handOff.AsMemory(0, length), Backend.ActivationDType == TensorDType.BFloat16, export, cancellationToken).ConfigureAwait(false);
            return result with { Output = ticket };
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(handOff);
        }
    }

    /// <summary>Holds one of the stage's queue slots while the chunk's input is pulled and the chunk runs on the device.</summary>
    private async Task<(StageChunkResult Result, byte[]? HandOff, long Rows, int Columns, IDeviceExport? Export)> AdmitAndRunAsync(StageChunkRequest request, CancellationToken cancellationToken)
    {
        await _admission.WaitAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _queued);
        MInferenceMetrics.QueueDepth.Add(1, _stageTag);
        try
        {
            // A remote input is pulled before taking the device, so the transfer overlaps another chunk's compute
            // (a CUDA IPC copy takes the device gate for just its own copy).
            using var remote = request.Input is { SourceEndpoint: not null } input && !IsLocal(input)
                ? await _dataPlane.FetchAsync(input, Backend, _computeGate, cancellationToken).ConfigureAwait(false)
                : null;
            await _computeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var ran = await Task.Run(() => RunChunk(request, remote, cancellationToken), cancellationToken).ConfigureAwait(false);
                MInferenceMetrics.ChunkLatency.Record(ran.Result.ElapsedMilliseconds, _stageTag);
                return ran;
            }
            finally
            {
                _computeGate.Release();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _queued);
            MInferenceMetrics.QueueDepth.Add(-1, _stageTag);
            _admission.Release();
        }
    }

    /// <summary>
    /// Writes the job's KV cache (the positions filled so far) to <c>{directory}/{jobId}/layer-{i:D3}.safetensors</c>,
    /// one file per layer of this stage (<see cref="KvCacheExporter"/>), on the device's turn; returns the files.
    /// The cache stays open (the job releases it as usual). Throws <see cref="IOException"/> naming the file
    /// when one cannot be written, <see cref="InvalidOperationException"/> when the job has no cache here.
    /// </summary>
    public async Task<IReadOnlyList<string>> ExportJobAsync(string jobId, string directory, CancellationToken cancellationToken)
    {
        await _computeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            JobSlot? slot;
            lock (_lock)
            {
                if (!_jobs.TryGetValue(jobId, out slot))
                {
                    throw new InvalidOperationException($"job '{jobId}' has no KV cache on device {DeviceIndex} to export");
                }

                // Counted like a running chunk, so a release meanwhile waits for the export before freeing the cache.
                slot.Running++;
            }

            try
            {
                return await Task.Run(() => KvCacheExporter.Export(Backend, slot.Cache, jobId, directory, cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                EndChunk(slot);
            }
        }
        finally
        {
            _computeGate.Release();
        }
    }

    /// <summary>
    /// Frees a job's KV cache and parked activations; true when it had a cache here. A chunk of the job
    /// still running keeps the cache until it ends.
    /// </summary>
    public bool ReleaseJob(string jobId)
    {
        _channel.ReleaseJob(jobId);
        _dataPlane.ReleaseJob(jobId);
        JobSlot? slot;
        lock (_lock)
        {
            if (!_jobs.Remove(jobId, out slot))
            {
                return false;
            }

            slot.Released = true;
            // Idleness counts from the last job's end, not from when it opened its cache.
            foreach (var shard in _shards.Values.Where(s => ReferenceEquals(s.Shard, slot.Shard)))
            {
                shard.LastUsedTicks = Environment.TickCount64;
            }

            if (slot.Running > 0)
            {
                return true;
            }
        }

        slot.Cache.Dispose();
        return true;
    }

    /// <summary>
    /// Unloads (frees the weights of) every loaded shard that no job holds a cache on and that either has
    /// not been used for <paramref name="idleFor"/> (null: never for idleness) or belongs to a model
    /// directory not in <paramref name="registeredDirectories"/> (null: not checked). Waits for the device
    /// between chunks, so no chunk is using or loading a shard meanwhile. Returns the unloaded shards' keys.
    /// </summary>
    public async Task<IReadOnlyList<string>> UnloadUnusedShardsAsync(
        TimeSpan? idleFor, IReadOnlySet<string>? registeredDirectories, CancellationToken cancellationToken)
    {
        await _computeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        var unloaded = new List<(string Key, LoadedShard Shard)>();
        try
        {
            var now = Environment.TickCount64;
            lock (_lock)
            {
                foreach (var (key, shard) in _shards)
                {
                    var inUse = _jobs.Values.Any(j => ReferenceEquals(j.Shard, shard.Shard));
                    var idle = idleFor is { } limit && now - shard.LastUsedTicks >= (long)limit.TotalMilliseconds;
                    var orphaned = registeredDirectories is not null && !registeredDirectories.Contains(shard.Directory);
                    if (!inUse && (idle || orphaned))
                    {
                        unloaded.Add((key, shard));
                    }
                }

                foreach (var (key, _) in unloaded)
                {
                    _shards.Remove(key);
                }
            }

            foreach (var (key, shard) in unloaded)
            {
                shard.Dispose();
                LogShardUnloaded(DeviceIndex, key);
            }
        }
        finally
        {
            _computeGate.Release();
        }

        return [.. unloaded.Select(u => u.Key)];
    }

    public (IReadOnlyList<string> Shards, IReadOnlyList<string> Jobs, long KvBytes) Snapshot()
    {
        lock (_lock)
        {
            var kv = _jobs.Values.Sum(j => KvBytes(j.Cache));
            return ([.. _shards.Keys.Order(StringComparer.Ordinal)], [.. _jobs.Keys.Order(StringComparer.Ordinal)], kv);
        }
    }

    public void Dispose()
    {
        _kvGauge.Dispose();
        lock (_lock)
        {
            foreach (var slot in _jobs.Values)
            {
                slot.Cache.Dispose();
            }

            foreach (var shard in _shards.Values)
            {
                shard.Dispose();
            }

            _jobs.Clear();
            _shards.Clear();
        }

        _computeGate.Dispose();
        _admission.Dispose();
    }

    private bool IsLocal(ActivationTicket ticket) => string.Equals(ticket.SourceSilo, _channel.SiloName, StringComparison.Ordinal);

    private (StageChunkResult Result, byte[]? HandOff, long Rows, int Columns, IDeviceExport? Export) RunChunk(StageChunkRequest request, RemoteActivation? remote, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var slot = AcquireSlot(request, cancellationToken);
        try
        {
            SpanResult result;
            long tokens;
            if (request.TokenIds is { } ids)
            {
                result = slot.Shard.RunSpan(slot.Cache, ids, cancellationToken);
                tokens = ids.Length;
            }
            else
            {
                var ticket = request.Input
                    ?? throw new ArgumentException($"chunk {request.ChunkIndex} of job '{request.JobId}' carries neither token ids nor an activation ticket", nameof(request));
                var hidden = remote is not null
                    ? remote.TakeTensor(ticket, Backend)
                    : _channel.Take(ticket, Backend);
                tokens = hidden.Rows;
                try
                {
                    result = slot.Shard.RunSpan(slot.Cache, hidden, cancellationToken);
                }
                catch
                {
                    hidden.Dispose();
                    throw;
                }
            }

            MInferenceMetrics.PrefilledTokens.Add(tokens, _stageTag);
            var density = result.AttentionDensity;
            if (slot.Shard.IsLastStage)
            {
                using (result)
                {
                    return (new StageChunkResult(null, result.Logits, watch.Elapsed.TotalMilliseconds, density), null, 0, 0, null);
                }
            }

            if (request.ConsumerSilo is null || string.Equals(request.ConsumerSilo, _channel.SiloName, StringComparison.Ordinal))
            {
                var output = _channel.Publish(request.JobId, request.ChunkIndex, result.HiddenStates, Backend);
                return (new StageChunkResult(output, null, watch.Elapsed.TotalMilliseconds, density), null, 0, 0, null);
            }

            // Another silo consumes it: copy to host memory on the device's turn; parking happens after.
            using (result)
            {
                var rows = result.HiddenStates.Rows;
                var columns = result.HiddenStates.Columns;
                var length = checked((int)(rows * columns * sizeof(float)));
                var bytes = ArrayPool<byte>.Shared.Rent(length);
                IDeviceExport? export = null;
                try
                {
                    // The export's device copy is queued first; the download below waits for the stream anyway.
                    export = _dataPlane.TryExport(Backend, result.HiddenStates);
                    Backend.Download(result.HiddenStates, MemoryMarshal.Cast<byte, float>(bytes.AsSpan(0, length)));
                }
                catch
                {
                    export?.Dispose();
                    ArrayPool<byte>.Shared.Return(bytes);
                    throw;
                }

                return (new StageChunkResult(null, null, watch.Elapsed.TotalMilliseconds, density), bytes, rows, columns, export);
            }
        }
        finally
        {
            EndChunk(slot);
        }
    }

    /// <summary>The job's slot, opened on chunk 0 (loading the shard for its layers and patterns); counts the chunk as running in it.</summary>
    private JobSlot AcquireSlot(StageChunkRequest request, CancellationToken cancellationToken)
    {
        var layers = new LayerRange(request.FirstLayer, request.EndLayer);
        lock (_lock)
        {
            if (_jobs.TryGetValue(request.JobId, out var existing))
            {
                if (!existing.Shard.Layers.Equals(layers))
                {
                    throw new InvalidOperationException($"job '{request.JobId}' holds a cache for layers {existing.Shard.Layers} here, not {layers}");
                }

                existing.Running++;
                return existing;
            }

            if (request.ChunkIndex != 0)
            {
                throw new InvalidOperationException(
                    $"chunk {request.ChunkIndex} of job '{request.JobId}' arrived at device {DeviceIndex}, which has no KV cache for the job (it opens on chunk 0)");
            }
        }

        // Chunks run one at a time under the compute gate, so no second chunk 0 of this job races this one.
        var shard = GetOrLoadShard(request.ModelDirectory, layers, request.PatternConfigJson, cancellationToken);
        var slot = new JobSlot(shard, shard.CreateSequence(request.CapacityTokens)) { Running = 1 };
        lock (_lock)
        {
            _jobs[request.JobId] = slot;
        }

        LogJobOpened(request.JobId, layers.Start, layers.End, request.CapacityTokens);
        return slot;
    }

    private void EndChunk(JobSlot slot)
    {
        bool dispose;
        lock (_lock)
        {
            slot.Running--;
            dispose = slot.Released && slot.Running == 0;
        }

        if (dispose)
        {
            slot.Cache.Dispose();
        }
    }

    private ModelShard GetOrLoadShard(string directory, LayerRange layers, string? patternConfigJson, CancellationToken cancellationToken)
    {
        var patterns = patternConfigJson is null ? "dense" : Crc32.HashToUInt32(Encoding.UTF8.GetBytes(patternConfigJson)).ToString("x8", CultureInfo.InvariantCulture);
        var key = string.Create(CultureInfo.InvariantCulture, $"{directory}#{layers.Start}-{layers.End}#{patterns}");
        lock (_lock)
        {
            if (_shards.TryGetValue(key, out var loaded))
            {
                loaded.LastUsedTicks = Environment.TickCount64;
                return loaded.Shard;
            }
        }

        var options = new ModelShardOptions
        {
            Patterns = patternConfigJson is null ? null : PatternConfigJson.Parse(patternConfigJson, "the job's pattern config"),
        };

        // Loading runs under the compute gate, so no second load of the same key can race this one.
        var weights = SafetensorsModelWeights.Open(directory, layers.Start, layers.End);
        try
        {
            var shard = ModelShard.Load(weights, layers, Backend, options, cancellationToken);
            lock (_lock)
            {
                _shards[key] = new LoadedShard(Path.GetFullPath(directory), weights, shard) { LastUsedTicks = Environment.TickCount64 };
            }

            LogShardLoaded(DeviceIndex, layers.Start, layers.End, patterns);
            return shard;
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    [LoggerMessage(EventId = 4200, Level = LogLevel.Information, Message = "Device {Device} loaded layers {First}-{End} (patterns {Patterns})")]
    private partial void LogShardLoaded(int device, int first, int end, string patterns);

    [LoggerMessage(EventId = 4202, Level = LogLevel.Information, Message = "Device {Device} unloaded shard {Shard} (unused)")]
    private partial void LogShardUnloaded(int device, string shard);

    [LoggerMessage(EventId = 4201, Level = LogLevel.Debug, Message = "Job {JobId} opened a KV cache for layers {First}-{End} of {Capacity} tokens")]
    private partial void LogJobOpened(string jobId, int first, int end, long capacity);

    private static long KvBytes(SequenceKvCache cache)
    {
        var layer = cache.Layers.Start;
        var key = cache.KeyCache(layer);
        return 2L * cache.Layers.Count * cache.Capacity * key.Columns * key.DType.SizeInBytes();
    }

    private sealed class JobSlot(ModelShard shard, SequenceKvCache cache)
    {
        public ModelShard Shard { get; } = shard;

        public SequenceKvCache Cache { get; } = cache;

        public int Running { get; set; }

        public bool Released { get; set; }
    }

    private sealed class LoadedShard(string directory, SafetensorsModelWeights weights, ModelShard shard) : IDisposable
    {
        public string Directory { get; } = directory;

        public SafetensorsModelWeights Weights { get; } = weights;

        public ModelShard Shard { get; } = shard;

        /// <summary>Environment.TickCount64 when a job last opened a cache on this shard (or it loaded).</summary>
        public long LastUsedTicks { get; set; }

        public void Dispose()
        {
            Shard.Dispose();
            Weights.Dispose();
        }
    }
}
