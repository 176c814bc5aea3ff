using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MInference.DataPlane;

/// <summary>
/// A silo's data-plane listener: serves payloads parked in its <see cref="ParkedPayloadStore"/> to receivers
/// that pull them over TCP, and frees each one when the receiver acknowledges it.
/// </summary>
public sealed class DataPlaneListener : IAsyncDisposable
{
    private readonly ParkedPayloadStore _store;
    private readonly DataPlaneOptions _options;
    private readonly ILogger _logger;
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly HashSet<Task> _connections = [];
    private readonly Task _acceptLoop;
    private readonly string _hostId;
    private int _disposed;

    private DataPlaneListener(ParkedPayloadStore store, DataPlaneOptions options, ILogger logger, Socket socket)
    {
        _store = store;
        _options = options;
        _logger = logger;
        _socket = socket;
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        var host = string.IsNullOrEmpty(options.AdvertisedHost) ? options.ListenAddress : options.AdvertisedHost;
        Endpoint = DataPlaneEndpoint.Format(host, bound.Port);
        _hostId = HostIdentity.Of(options);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>"host:port" receivers connect to; goes into every ticket this silo issues.</summary>
    public string Endpoint { get; }

    /// <summary>Parks a copy of <paramref name="payload"/> (waiting for room) and returns the ticket a receiver redeems.</summary>
    public Task<DataPlaneTicket> PublishAsync(PayloadDescriptor descriptor, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
        => PublishAsync(descriptor, payload, device: null, cancellationToken);

    /// <summary>
    /// Parks <paramref name="payload"/> and, for receivers on this host that ask for it, <paramref name="device"/>
    /// (owned by the store from this call on, also when it throws; see <see cref="IDeviceExport"/>).
    /// </summary>
    public async Task<DataPlaneTicket> PublishAsync(PayloadDescriptor descriptor, ReadOnlyMemory<byte> payload, IDeviceExport? device, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            device?.Dispose();
            throw new ObjectDisposedException(nameof(DataPlaneListener));
        }

        var transferId = Guid.NewGuid();
        await _store.PublishAsync(transferId, descriptor, payload, device, cancellationToken).ConfigureAwait(false);
        return new DataPlaneTicket(transferId, Endpoint, descriptor);
    }

    /// <summary>The host identity receivers must present to get a device handle (see <see cref="HostIdentity"/>).</summary>
    public string HostId => _hostId;

    /// <summary>Test hook: picks a fault for each send.</summary>
    internal Func<Guid, TransferFault>? FaultInjector { get; set; }

    /// <summary>Validates <paramref name="options"/>, binds the socket and starts accepting connections.</summary>
    public static DataPlaneListener Start(ParkedPayloadStore store, DataPlaneOptions options, ILogger<DataPlaneListener>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var address = IPAddress.Parse(options.ListenAddress);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(address, options.Port));
            socket.Listen(128);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new InvalidOperationException($"the data plane cannot listen on {options.ListenAddress}:{options.Port}: {e.SocketErrorCode}", e);
        }

        return new DataPlaneListener(store, options, logger ?? (ILogger)NullLogger.Instance, socket);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _socket.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (!_stopping.IsCancellationRequested)
                {
                    _logger.LogWarning(e, "Data plane on {Endpoint} stopped accepting", Endpoint);
                }

                return;
            }

            client.NoDelay = true;
            lock (_gate)
            {
                var task = ServeAsync(client);
                _connections.Add(task);
                _ = task.ContinueWith(
                    done =>
                    {
                        lock (_gate)
                        {
                            _connections.Remove(done);
                        }
                    },
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }
        }
    }

    private async Task ServeAsync(Socket client)
    {
        await Task.Yield();
        var stream = new NetworkStream(client, ownsSocket: true);
        var reader = PipeReader.Create(stream);
        var writer = PipeWriter.Create(stream);
        var token = _stopping.Token;
        try
        {
            while (true)
            {
                var read = await reader.ReadAtLeastAsync(WireFormat.RequestLength, token).ConfigureAwait(false);
                if (read.Buffer.Length < WireFormat.RequestLength)
                {
                    return; // The receiver closed the connection.
                }

                var (op, transferId) = WireFormat.ReadRequest(read.Buffer);
                reader.AdvanceTo(read.Buffer.GetPosition(WireFormat.RequestLength));
                switch (op)
                {
                    case WireFormat.OpFetch:
                        if (!await SendAsync(writer, transferId, token).ConfigureAwait(false))
                        {
                            return;
                        }

                        break;
                    case WireFormat.OpFetchDevice:
                        await SendDeviceAsync(reader, writer, transferId, token).ConfigureAwait(false);
                        break;
                    case WireFormat.OpAcknowledge:
                        var freed = _store.Release(transferId);
                        if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("Transfer {TransferId} acknowledged on {Endpoint}; freed: {Freed}", transferId, Endpoint, freed);
                        WriteStatus(writer, freed ? WireFormat.StatusFound : WireFormat.StatusUnknown);
                        await writer.FlushAsync(token).ConfigureAwait(false);
                        break;
                    default:
                        _logger.LogWarning("Data plane on {Endpoint} got unknown op {Op}; closing the connection", Endpoint, op);
                        return;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            if (!token.IsCancellationRequested)
            {
                if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug(e, "Data plane connection on {Endpoint} ended", Endpoint);
            }
        }
        catch (Exception e)
        {
            // One bad connection never takes down the silo.
            _logger.LogError(e, "Data plane connection on {Endpoint} failed", Endpoint);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Writes one fetch reply; false when the connection must close (an injected drop).</summary>
    private async Task<bool> SendAsync(PipeWriter writer, Guid transferId, CancellationToken cancellationToken)
    {
        using var lease = _store.TryLease(transferId);
        if (lease is null)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("Transfer {TransferId} asked of {Endpoint} is not parked", transferId, Endpoint);
            WriteStatus(writer, WireFormat.StatusUnknown);
            await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }

        var fault = FaultInjector?.Invoke(transferId) ?? TransferFault.None;
        WireFormat.WriteHeader(writer, transferId, lease.Descriptor, lease.Crc);
        var payload = lease.Payload;
        var limit = fault == TransferFault.DropHalfway ? payload.Length / 2 : payload.Length;
        for (var offset = 0; offset < limit; offset += _options.ChunkBytes)
        {
            var chunk = payload.Slice(offset, Math.Min(_options.ChunkBytes, limit - offset));
            if (fault == TransferFault.CorruptOneBit && offset == 0)
            {
                var span = writer.GetSpan(chunk.Length);
                chunk.Span.CopyTo(span);
                span[chunk.Length / 2] ^= 0x10;
                writer.Advance(chunk.Length);
            }
            else
            {
                writer.Write(chunk.Span);
            }

            await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (fault == TransferFault.DropHalfway)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("Injected drop of transfer {TransferId} after {Sent} of {Total} bytes", transferId, limit, payload.Length);
            return false;
        }

        return true;
    }

    /// <summary>
    /// Answers a device fetch: the export's descriptor when the payload has one, device IPC is on, the
    /// versions match and the receiver presented this host's identity; a refusal with the reason otherwise
    /// (the receiver then fetches the bytes on the same connection).
    /// </summary>
    private async Task SendDeviceAsync(PipeReader reader, PipeWriter writer, Guid transferId, CancellationToken cancellationToken)
    {
        var read = await reader.ReadAtLeastAsync(2, cancellationToken).ConfigureAwait(false);
        if (read.Buffer.Length < 2)
        {
            throw new IOException("the receiver closed the connection inside a device fetch request");
        }

        Span<byte> prefix = stackalloc byte[2];
        read.Buffer.Slice(0, 2).CopyTo(prefix);
        var version = prefix[0];
        int hostLength = prefix[1];
        reader.AdvanceTo(read.Buffer.GetPosition(2));
        var hostId = "";
        if (hostLength > 0)
        {
            read = await reader.ReadAtLeastAsync(hostLength, cancellationToken).ConfigureAwait(false);
            if (read.Buffer.Length < hostLength)
            {
                throw new IOException("the receiver closed the connection inside a device fetch request");
            }

            hostId = System.Text.Encoding.ASCII.GetString(read.Buffer.Slice(0, hostLength).ToArray());
            reader.AdvanceTo(read.Buffer.GetPosition(hostLength));
        }

        using var lease = _store.TryLease(transferId);
        var (refusal, reason) = version != WireFormat.DeviceProtocolVersion
            ? (DeviceRefusal.Version, $"device fetch protocol version {version} is not supported: this listener speaks version {WireFormat.DeviceProtocolVersion}")
            : !_options.DeviceIpc
                ? (DeviceRefusal.Off, "device IPC is off on this listener (DataPlane:DeviceIpc)")
                : !string.Equals(hostId, _hostId, StringComparison.Ordinal)
                    ? (DeviceRefusal.OtherHost, $"the receiver's host '{hostId}' is not the producer's '{_hostId}'")
                    : lease is { Device: null }
                        ? (DeviceRefusal.HostMemoryOnly, "the payload is parked in host memory only")
                        : (DeviceRefusal.None, "");
        if (refusal != DeviceRefusal.None)
        {
            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("Device fetch of transfer {TransferId} on {Endpoint} refused: {Reason}", transferId, Endpoint, reason);
            WireFormat.WriteRefusal(writer, refusal, reason);
        }
        else if (lease is null)
        {
            WriteStatus(writer, WireFormat.StatusUnknown);
        }
        else
        {
            WireFormat.WriteDeviceFound(writer, lease.Device!.Descriptor.Span);
        }

        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void WriteStatus(PipeWriter writer, byte status)
    {
        writer.GetSpan(1)[0] = status;
        writer.Advance(1);
    }

    /// <summary>Stops accepting, closes open connections and waits for them; the store is the owner's to dispose.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        Task[] open;
        lock (_gate)
        {
            open = [.. _connections];
        }

        await Task.WhenAll(open).ConfigureAwait(false);
        _stopping.Dispose();
    }
}
