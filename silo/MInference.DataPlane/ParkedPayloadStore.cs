using System.Buffers;
using System.IO.Hashing;

namespace MInference.DataPlane;

/// <summary>
/// The producer's bounded store of parked payloads, each in a pooled buffer. Publishing waits while the
/// store is over its byte or ticket limit, so a fast producer cannot run ahead of its consumers. A payload
/// is freed when a receiver acknowledges it (or it is released); a send in progress holds a lease that
/// keeps the buffer alive until the send ends.
/// </summary>
public sealed class ParkedPayloadStore : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, Entry> _entries = [];
    private readonly List<TaskCompletionSource> _waiters = [];
    private readonly long _maxBytes;
    private readonly int _maxTickets;
    private long _reservedBytes;
    private int _reservedTickets;
    private readonly TimeSpan _lifetime;
    private readonly TimeProvider _time;
    private readonly ITimer? _sweeper;
    private bool _disposed;

    /// <summary>
    /// A store holding at most <paramref name="maxBytes"/> bytes in <paramref name="maxTickets"/> payloads. With a
    /// <paramref name="lifetime"/>, a payload nobody fetched in that time expires (freed by a periodic sweep),
    /// so a consumer that died cannot block its producer for ever.
    /// </summary>
    public ParkedPayloadStore(long maxBytes, int maxTickets, TimeSpan? lifetime = null, TimeProvider? timeProvider = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTickets, 1);
        if (lifetime is { } given && given <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), given, "a parked payload's lifetime must be positive");
        }

        _maxBytes = maxBytes;
        _maxTickets = maxTickets;
        _lifetime = lifetime ?? Timeout.InfiniteTimeSpan;
        _time = timeProvider ?? TimeProvider.System;
        if (lifetime is { } period)
        {
            var every = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, period.Ticks / 4));
            _sweeper = _time.CreateTimer(_ => ReleaseExpired(), null, every, every);
        }
    }

    /// <summary>A store with the limits and lifetime of <paramref name="options"/> (validated).</summary>
    public static ParkedPayloadStore Create(DataPlaneOptions options, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new ParkedPayloadStore(options.MaxParkedBytes, options.MaxParkedTickets, options.ParkedLifetime, timeProvider);
    }

    /// <summary>Tickets parked or being parked.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _reservedTickets;
            }
        }
    }

    /// <summary>Bytes parked or being parked.</summary>
    public long Bytes
    {
        get
        {
            lock (_gate)
            {
                return _reservedBytes;
            }
        }
    }

    /// <summary>
    /// Copies <paramref name="payload"/> into a pooled buffer parked under <paramref name="transferId"/>;
    /// waits for room first. The caller keeps its own buffer.
    /// </summary>
    public Task PublishAsync(Guid transferId, PayloadDescriptor descriptor, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
        => PublishAsync(transferId, descriptor, payload, device: null, cancellationToken);

    /// <summary>
    /// Parks <paramref name="payload"/> as the overload does, together with <paramref name="device"/>, the same
    /// payload offered as device memory to receivers on this host. The store owns <paramref name="device"/>
    /// from this call on, also when the call throws, and disposes it when the payload is freed.
    /// </summary>
    public async Task PublishAsync(Guid transferId, PayloadDescriptor descriptor, ReadOnlyMemory<byte> payload, IDeviceExport? device, CancellationToken cancellationToken)
    {
        try
        {
            await PublishCoreAsync(transferId, descriptor, payload, device, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            device?.Dispose();
            throw;
        }
    }

    private async Task PublishCoreAsync(Guid transferId, PayloadDescriptor descriptor, ReadOnlyMemory<byte> payload, IDeviceExport? device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        descriptor.Validate();
        if (device is not null && device.Descriptor.Length is 0 or > IDeviceExport.MaxDescriptorLength)
        {
            throw new ArgumentException($"a device descriptor is 1..{IDeviceExport.MaxDescriptorLength} bytes, got {device.Descriptor.Length}", nameof(device));
        }

        if (descriptor.ByteLength != payload.Length)
        {
            throw new ArgumentException($"descriptor says {descriptor.ByteLength} bytes but the payload has {payload.Length}", nameof(payload));
        }

        if (payload.Length > _maxBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(payload), payload.Length, $"a payload of {payload.Length} bytes can never fit the store's limit of {_maxBytes} bytes");
        }

        await ReserveAsync(transferId, payload.Length, cancellationToken).ConfigureAwait(false);
        // The checksum is taken once here, so every (re)send is checked against the bytes as published.
        var crc = Crc32.HashToUInt32(payload.Span);
        byte[] buffer;
        try
        {
            buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, payload.Length));
            payload.Span.CopyTo(buffer);
        }
        catch
        {
            Unreserve(payload.Length);
            throw;
        }

        lock (_gate)
        {
            if (_disposed)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                _reservedBytes -= payload.Length;
                _reservedTickets--;
                throw new ObjectDisposedException(nameof(ParkedPayloadStore));
            }

            var expiresAt = _lifetime == Timeout.InfiniteTimeSpan ? DateTimeOffset.MaxValue : _time.GetUtcNow() + _lifetime;
            _entries.Add(transferId, new Entry(transferId, descriptor, buffer, crc) { ExpiresAt = expiresAt, Device = device });
        }
    }

    /// <summary>Frees the payload; false when the id is unknown (already freed or never parked).</summary>
    public bool Release(Guid transferId)
    {
        List<TaskCompletionSource> wake;
        lock (_gate)
        {
            if (!_entries.TryGetValue(transferId, out var entry))
            {
                return false;
            }

            RemoveLocked(entry);
            wake = TakeWaiters();
        }

        Wake(wake);
        return true;
    }

    /// <summary>Frees payloads past their lifetime; returns how many. Runs periodically when a lifetime is set.</summary>
    public int ReleaseExpired()
    {
        List<TaskCompletionSource> wake;
        var expired = 0;
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            foreach (var entry in _entries.Values.Where(e => e.ExpiresAt <= now).ToList())
            {
                RemoveLocked(entry);
                expired++;
            }

            wake = expired > 0 ? TakeWaiters() : [];
        }

        Wake(wake);
        return expired;
    }

    private void RemoveLocked(Entry entry)
    {
        _entries.Remove(entry.TransferId);
        entry.Removed = true;
        if (entry.Leases == 0)
        {
            entry.Free();
        }

        _reservedBytes -= entry.Descriptor.ByteLength;
        _reservedTickets--;
    }

    /// <summary>Borrows a parked payload for sending; dispose the lease when done. Null when unknown.</summary>
    internal PayloadLease? TryLease(Guid transferId)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(transferId, out var entry) || entry.ExpiresAt <= _time.GetUtcNow())
            {
                return null;
            }

            entry.Leases++;
            return new PayloadLease(this, entry);
        }
    }

    /// <summary>Frees every payload and fails waiting publishers with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        List<TaskCompletionSource> wake;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _sweeper?.Dispose();
            foreach (var entry in _entries.Values)
            {
                entry.Removed = true;
                if (entry.Leases == 0)
                {
                    entry.Free();
                }

                _reservedBytes -= entry.Descriptor.ByteLength;
                _reservedTickets--;
            }

            _entries.Clear();
            wake = TakeWaiters();
        }

        Wake(wake);
    }

    private async Task ReserveAsync(Guid transferId, long length, CancellationToken cancellationToken)
    {
        while (true)
        {
            TaskCompletionSource waiter;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_entries.ContainsKey(transferId))
                {
                    throw new ArgumentException($"transfer id {transferId} is already parked", nameof(transferId));
                }

                if (_reservedTickets < _maxTickets && _reservedBytes + length <= _maxBytes)
                {
                    _reservedTickets++;
                    _reservedBytes += length;
                    return;
                }

                waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add(waiter);
            }

            try
            {
                await waiter.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                lock (_gate)
                {
                    _waiters.Remove(waiter);
                }

                throw;
            }
        }
    }

    private void Unreserve(long length)
    {
        List<TaskCompletionSource> wake;
        lock (_gate)
        {
            _reservedBytes -= length;
            _reservedTickets--;
            wake = TakeWaiters();
        }

        Wake(wake);
    }

    private void EndLease(Entry entry)
    {
        lock (_gate)
        {
            entry.Leases--;
            if (entry.Removed && entry.Leases == 0)
            {
                entry.Free();
            }
        }
    }

    // Every waiter re-checks for room itself; waking all is simple and the window is small.
    private List<TaskCompletionSource> TakeWaiters()
    {
        var wake = new List<TaskCompletionSource>(_waiters);
        _waiters.Clear();
        return wake;
    }

    private static void Wake(List<TaskCompletionSource> waiters)
    {
        foreach (var waiter in waiters)
        {
            waiter.TrySetResult();
        }
    }

    private sealed class Entry(Guid transferId, PayloadDescriptor descriptor, byte[] buffer, uint crc)
    {
        public uint Crc { get; } = crc;

        public Guid TransferId { get; } = transferId;

        public PayloadDescriptor Descriptor { get; } = descriptor;

        public byte[] Buffer { get; } = buffer;

        public int Leases { get; set; }

        public bool Removed { get; set; }

        public DateTimeOffset ExpiresAt { get; init; }

        /// <summary>The same payload as device memory for receivers on this host, when the producer offered it.</summary>
        public IDeviceExport? Device { get; init; }

        /// <summary>Gives the buffer back and frees the device export (once nothing is sending either).</summary>
        public void Free()
        {
            ArrayPool<byte>.Shared.Return(Buffer);
            Device?.Dispose();
        }
    }

    /// <summary>Keeps one parked buffer alive while it is being sent.</summary>
    internal sealed class PayloadLease : IDisposable
    {
        private readonly ParkedPayloadStore _store;
        private readonly Entry _entry;
        private bool _ended;

        public PayloadLease(ParkedPayloadStore store, object entry)
        {
            _store = store;
            _entry = (Entry)entry;
        }

        public Guid TransferId => _entry.TransferId;

        public PayloadDescriptor Descriptor => _entry.Descriptor;

        public uint Crc => _entry.Crc;

        public ReadOnlyMemory<byte> Payload => _entry.Buffer.AsMemory(0, checked((int)_entry.Descriptor.ByteLength));

        /// <summary>The payload as device memory, when the producer offered it.</summary>
        public IDeviceExport? Device => _entry.Device;

        public void Dispose()
        {
            if (!_ended)
            {
                _ended = true;
                _store.EndLease(_entry);
            }
        }
    }
}
