namespace MInference.Kernels.Cuda.Transfer;

/// <summary>
/// A small, bounded pool of staging buffers for <see cref="DeviceHandOff"/>'s host-staged route. Pinned host
/// memory is slow to allocate (cuMemAllocHost maps and locks every page: about 49 ms for 64 MiB on an H100
/// host, longer than the copy itself), so a buffer is kept after its copy and handed to the next hand-off
/// that fits. The pool grows with demand (a miss allocates exactly what was asked, rounded up to
/// <see cref="Granularity"/>) and holds at most <see cref="MaxIdleBuffers"/> idle buffers and
/// <see cref="MaxIdleBytes"/> idle bytes; anything beyond is freed at once, and dispose frees the rest.
/// Generic over the buffer so the policy is tested without a GPU.
/// </summary>
internal sealed class StagingBufferPool<TBuffer> : IDisposable
    where TBuffer : class, IDisposable
{
    /// <summary>Sizes are rounded up to this, so chunks whose length differs by a few rows share buffers.</summary>
    public const long Granularity = 2L << 20;

    private readonly Func<long, TBuffer> _allocate;
    private readonly Func<TBuffer, long> _capacity;
    private readonly List<TBuffer> _idle = [];
    private readonly Lock _lock = new();
    private long _idleBytes;
    private long _allocations;
    private long _reuses;
    private bool _disposed;

    public StagingBufferPool(Func<long, TBuffer> allocate, Func<TBuffer, long> capacity, int maxIdleBuffers, long maxIdleBytes)
    {
        ArgumentNullException.ThrowIfNull(allocate);
        ArgumentNullException.ThrowIfNull(capacity);
        ArgumentOutOfRangeException.ThrowIfNegative(maxIdleBuffers);
        ArgumentOutOfRangeException.ThrowIfNegative(maxIdleBytes);
        _allocate = allocate;
        _capacity = capacity;
        MaxIdleBuffers = maxIdleBuffers;
        MaxIdleBytes = maxIdleBytes;
    }

    public int MaxIdleBuffers { get; }

    public long MaxIdleBytes { get; }

    /// <summary>Buffers allocated because no idle one fitted.</summary>
    public long Allocations => Interlocked.Read(ref _allocations);

    /// <summary>Rents served by an idle buffer.</summary>
    public long Reuses => Interlocked.Read(ref _reuses);

    /// <summary>Bytes held by idle buffers.</summary>
    public long IdleBytes
    {
        get
        {
            lock (_lock)
            {
                return _idleBytes;
            }
        }
    }

    /// <summary>A buffer of at least <paramref name="bytes"/> bytes: the smallest idle one that fits, else a new one.</summary>
    public TBuffer Rent(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var best = -1;
            for (var i = 0; i < _idle.Count; i++)
            {
                var capacity = _capacity(_idle[i]);
                if (capacity >= bytes && (best < 0 || capacity < _capacity(_idle[best])))
                {
                    best = i;
                }
            }

            if (best >= 0)
            {
                var buffer = _idle[best];
                _idle.RemoveAt(best);
                _idleBytes -= _capacity(buffer);
                _reuses++;
                return buffer;
            }
        }

        // Allocated outside the lock: pinning is slow and other hand-offs may return buffers meanwhile.
        var rounded = checked((bytes + Granularity - 1) / Granularity * Granularity);
        var created = _allocate(rounded);
        Interlocked.Increment(ref _allocations);
        return created;
    }

    /// <summary>Gives a buffer back once nothing reads or writes it any more; frees it when the pool is full or disposed.</summary>
    public void Return(TBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        var capacity = _capacity(buffer);
        List<TBuffer> evicted = [];
        lock (_lock)
        {
            if (_disposed || MaxIdleBuffers == 0 || capacity > MaxIdleBytes)
            {
                evicted.Add(buffer);
            }
            else
            {
                _idle.Add(buffer);
                _idleBytes += capacity;

                // Over a limit: free the smallest first, since the big ones are the expensive ones to pin again.
                while (_idle.Count > MaxIdleBuffers || _idleBytes > MaxIdleBytes)
                {
                    var smallest = 0;
                    for (var i = 1; i < _idle.Count; i++)
                    {
                        if (_capacity(_idle[i]) < _capacity(_idle[smallest]))
                        {
                            smallest = i;
                        }
                    }

                    var victim = _idle[smallest];
                    _idle.RemoveAt(smallest);
                    _idleBytes -= _capacity(victim);
                    evicted.Add(victim);
                }
            }
        }

        foreach (var victim in evicted)
        {
            victim.Dispose();
        }
    }

    /// <summary>Frees every idle buffer; buffers still rented are freed when they come back.</summary>
    public void Dispose()
    {
        List<TBuffer> idle;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            idle = [.. _idle];
            _idle.Clear();
            _idleBytes = 0;
        }

        foreach (var buffer in idle)
        {
            buffer.Dispose();
        }
    }
}
