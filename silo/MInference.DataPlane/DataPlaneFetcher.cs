using System.Buffers;
using System.IO.Hashing;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MInference.DataPlane;

/// <summary>
/// The receiving side: pulls a ticket's payload from the producer's listener, checks length and CRC-32, and
/// acknowledges it so the producer frees it. A failed fetch leaves the payload parked, so a retry of a
/// retryable <see cref="TransferFailedException"/> can succeed. With a device importer it first asks for the
/// producer's device export (CUDA IPC on one host) and falls back to the bytes whenever that path is refused
/// or fails; a producer whose listener cannot serve device fetches at all is remembered and logged once.
/// </summary>
public sealed class DataPlaneFetcher
{
    private readonly DataPlaneOptions _options;
    private readonly ILogger _logger;
    private readonly string _hostId;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _bytesOnly = new(StringComparer.Ordinal);

    public DataPlaneFetcher(DataPlaneOptions options, ILogger<DataPlaneFetcher>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _hostId = HostIdentity.Of(options);
    }

    /// <summary>Producer endpoints this fetcher no longer asks for device exports, and why.</summary>
    public IReadOnlyDictionary<string, string> BytesOnlyEndpoints => _bytesOnly;

    /// <summary>Fetches, verifies and acknowledges the payload of <paramref name="ticket"/>; the caller disposes the result.</summary>
    public async Task<ReceivedPayload> FetchAsync(DataPlaneTicket ticket, CancellationToken cancellationToken)
    {
        var delivery = await FetchAsync<ReceivedPayload>(ticket, importDevice: null, cancellationToken).ConfigureAwait(false);
        return delivery.Bytes!;
    }

    /// <summary>
    /// Fetches the payload of <paramref name="ticket"/>: with <paramref name="importDevice"/> (a receiver that can
    /// open device exports) and <see cref="DataPlaneOptions.DeviceIpc"/> on, first as the producer's device
    /// export, which <paramref name="importDevice"/> copies into memory of the receiver's own before the
    /// acknowledgement lets the producer free it; otherwise, or when that is refused or throws, as verified
    /// bytes. A failed device import never loses the payload: nothing was acknowledged, the bytes follow.
    /// </summary>
    public async Task<DataPlaneDelivery<T>> FetchAsync<T>(DataPlaneTicket ticket, Func<ReadOnlyMemory<byte>, T>? importDevice, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(ticket);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.TransferTimeout);
        try
        {
            var tryDevice = importDevice is not null && _options.DeviceIpc && !_bytesOnly.ContainsKey(ticket.Endpoint);
            return await FetchCoreAsync(ticket, tryDevice ? importDevice : null, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw Failure(ticket, $"no answer within {_options.TransferTimeout}", retryable: true, e);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            throw Failure(ticket, $"connection failed: {Describe(e)}", retryable: true, e);
        }
    }

    private async Task<DataPlaneDelivery<T>> FetchCoreAsync<T>(DataPlaneTicket ticket, Func<ReadOnlyMemory<byte>, T>? importDevice, CancellationToken cancellationToken)
        where T : class
    {
        var socket = await ConnectAsync(ticket, cancellationToken).ConfigureAwait(false);
        var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = PipeReader.Create(stream);
        var writer = PipeWriter.Create(stream);
        string? fallback = null;
        try
        {
            if (importDevice is not null)
            {
                var (device, reason, connectionUsable) = await TryDeviceAsync(reader, writer, ticket, importDevice, cancellationToken).ConfigureAwait(false);
                if (device is not null)
                {
                    return DataPlaneDelivery<T>.OnDevice(device);
                }

                fallback = reason;
                if (!connectionUsable)
                {
                    // The producer closed or garbled this connection: the bytes come over a new one.
                    var bytes = await FetchCoreAsync<T>(ticket, importDevice: null, cancellationToken).ConfigureAwait(false);
                    return DataPlaneDelivery<T>.AsBytes(bytes.Bytes!, fallback);
                }
            }

            return DataPlaneDelivery<T>.AsBytes(await FetchBytesAsync(reader, writer, ticket, cancellationToken).ConfigureAwait(false), fallback);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One device fetch on an open connection: the imported copy (acknowledged), or null with the reason and
    /// whether the connection can still carry the byte fetch.
    /// </summary>
    private async Task<(T? Device, string Reason, bool ConnectionUsable)> TryDeviceAsync<T>(
        PipeReader reader, PipeWriter writer, DataPlaneTicket ticket, Func<ReadOnlyMemory<byte>, T> importDevice, CancellationToken cancellationToken)
        where T : class
    {
        WireFormat.WriteDeviceRequest(writer, ticket.TransferId, WireFormat.DeviceProtocolVersion, _hostId);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        ReadResult read;
        try
        {
            read = await reader.ReadAtLeastAsync(1, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            // A listener that predates the device op closes with the request's tail unread: a reset, not an end.
            read = default;
        }

        if (read.Buffer.IsEmpty)
        {
            var reason = $"the listener at {ticket.Endpoint} closed the connection on a device fetch: it predates device fetch protocol version {WireFormat.DeviceProtocolVersion}";
            UseBytesFrom(ticket.Endpoint, reason);
            return (null, reason, false);
        }

        var status = read.Buffer.FirstSpan[0];
        reader.AdvanceTo(read.Buffer.GetPosition(1));
        switch (status)
        {
            case WireFormat.StatusUnknown:
                throw Failure(ticket, "the producer does not hold this ticket (unknown, already taken, released or expired)", retryable: false);
            case WireFormat.StatusRefused:
                {
                    var prefix = await ReadExactlyAsync(reader, 2, ticket, cancellationToken).ConfigureAwait(false);
                    var refusal = (DeviceRefusal)prefix[0];
                    var reason = System.Text.Encoding.ASCII.GetString(await ReadExactlyAsync(reader, prefix[1], ticket, cancellationToken).ConfigureAwait(false));
                    if (refusal == DeviceRefusal.HostMemoryOnly)
                    {
                        if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("Transfer {TransferId} from {Endpoint} comes as bytes: {Reason}", ticket.TransferId, ticket.Endpoint, reason);
                    }
                    else
                    {
                        // Version, switched off or another host: every later fetch from there would be refused too.
                        UseBytesFrom(ticket.Endpoint, reason);
                    }

                    return (null, reason, true);
                }

            case WireFormat.StatusFound:
                {
                    var lengthBytes = await ReadExactlyAsync(reader, 2, ticket, cancellationToken).ConfigureAwait(false);
                    var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(lengthBytes);
                    var descriptor = await ReadExactlyAsync(reader, length, ticket, cancellationToken).ConfigureAwait(false);
                    T device;
                    try
                    {
                        device = importDevice(descriptor);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        // Nothing was acknowledged, so the payload is still parked: the bytes follow. A host whose
                        // processes cannot open each other's exports (no shared IPC namespace) fails every time.
                        var reason = $"opening the device export of {ticket.Endpoint} failed: {e.Message}";
                        UseBytesFrom(ticket.Endpoint, reason, e);
                        return (null, reason, true);
                    }

                    await AcknowledgeAsync(reader, writer, ticket, device, cancellationToken).ConfigureAwait(false);
                    if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("Imported transfer {TransferId} ({Bytes} bytes) from the device export of {Endpoint}", ticket.TransferId, ticket.Payload.ByteLength, ticket.Endpoint);
                    return (device, "", true);
                }

            default:
                {
                    var reason = $"the listener at {ticket.Endpoint} answered a device fetch with unknown status {status}";
                    UseBytesFrom(ticket.Endpoint, reason);
                    return (null, reason, false);
                }
        }
    }

    /// <summary>Lets the producer free its export; the copy is ours already, so a lost acknowledgement only delays that (the payload expires).</summary>
    private async Task AcknowledgeAsync<T>(PipeReader reader, PipeWriter writer, DataPlaneTicket ticket, T device, CancellationToken cancellationToken)
    {
        try
        {
            await SendAcknowledgementAsync(reader, writer, ticket, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or TransferFailedException)
        {
            _logger.LogWarning(e, "Transfer {TransferId} from {Endpoint}: the acknowledgement of the device copy was lost; the producer frees the export when it expires", ticket.TransferId, ticket.Endpoint);
        }
        catch
        {
            (device as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Tells the producer it may free the payload (bytes or device export). Our copy is complete and verified
    /// by then, so a "not found" reply (another receiver or a release freed it first) is only logged.
    /// </summary>
    private async Task SendAcknowledgementAsync(PipeReader reader, PipeWriter writer, DataPlaneTicket ticket, CancellationToken cancellationToken)
    {
        WireFormat.WriteRequest(writer, WireFormat.OpAcknowledge, ticket.TransferId);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        var ack = await ReadStatusAsync(reader, ticket, "the acknowledgement reply", cancellationToken).ConfigureAwait(false);
        if (ack != WireFormat.StatusFound)
        {
            _logger.LogWarning("Transfer {TransferId} from {Endpoint} was already freed when acknowledged", ticket.TransferId, ticket.Endpoint);
        }
    }

    private void UseBytesFrom(string endpoint, string reason, Exception? error = null)
    {
        if (_bytesOnly.TryAdd(endpoint, reason))
        {
            _logger.LogWarning(error, "Device IPC with data-plane endpoint {Endpoint} is not possible, pulling its payloads as bytes over TCP from now on: {Reason}", endpoint, reason);
        }
    }

    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int length, DataPlaneTicket ticket, CancellationToken cancellationToken)
    {
        if (length == 0)
        {
            return [];
        }

        var read = await reader.ReadAtLeastAsync(length, cancellationToken).ConfigureAwait(false);
        if (read.Buffer.Length < length)
        {
            throw Failure(ticket, "the producer closed the connection inside a device fetch reply", retryable: true);
        }

        var bytes = read.Buffer.Slice(0, length).ToArray();
        reader.AdvanceTo(read.Buffer.GetPosition(length));
        return bytes;
    }

    private async Task<ReceivedPayload> FetchBytesAsync(PipeReader reader, PipeWriter writer, DataPlaneTicket ticket, CancellationToken cancellationToken)
    {
        WireFormat.WriteRequest(writer, WireFormat.OpFetch, ticket.TransferId);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);

        var status = await ReadStatusAsync(reader, ticket, "the fetch reply", cancellationToken).ConfigureAwait(false);
        if (status == WireFormat.StatusUnknown)
        {
            throw Failure(ticket, "the producer does not hold this ticket (unknown, already taken, released or expired)", retryable: false);
        }

        var (descriptor, expectedCrc) = await ReadHeaderAsync(reader, ticket, cancellationToken).ConfigureAwait(false);
        var (buffer, crc) = await ReadPayloadAsync(reader, ticket, descriptor, expectedCrc, cancellationToken).ConfigureAwait(false);
        var received = new ReceivedPayload(ticket.TransferId, descriptor, buffer);
        try
        {
            await SendAcknowledgementAsync(reader, writer, ticket, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            received.Dispose();
            throw;
        }

        if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("Fetched transfer {TransferId} ({Bytes} bytes, crc {Crc:x8}) from {Endpoint}", ticket.TransferId, descriptor.ByteLength, crc, ticket.Endpoint);
        return received;
    }

    private async Task<Socket> ConnectAsync(DataPlaneTicket ticket, CancellationToken cancellationToken)
    {
        System.Net.EndPoint endpoint;
        try
        {
            endpoint = DataPlaneEndpoint.Parse(ticket.Endpoint);
        }
        catch (FormatException e)
        {
            throw Failure(ticket, e.Message, retryable: false, e);
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var connectDeadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        connectDeadline.CancelAfter(_options.ConnectTimeout);
        try
        {
            await socket.ConnectAsync(endpoint, connectDeadline.Token).ConfigureAwait(false);
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw Failure(ticket, $"cannot connect: {e.SocketErrorCode}", retryable: true, e);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw Failure(ticket, $"cannot connect within {_options.ConnectTimeout}", retryable: true, e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<byte> ReadStatusAsync(PipeReader reader, DataPlaneTicket ticket, string what, CancellationToken cancellationToken)
    {
        var read = await reader.ReadAtLeastAsync(1, cancellationToken).ConfigureAwait(false);
        if (read.Buffer.IsEmpty)
        {
            throw Failure(ticket, $"the producer closed the connection before {what}", retryable: true);
        }

        var status = read.Buffer.FirstSpan[0];
        reader.AdvanceTo(read.Buffer.GetPosition(1));
        if (status is not (WireFormat.StatusFound or WireFormat.StatusUnknown))
        {
            throw Failure(ticket, $"{what} has unknown status {status}", retryable: false);
        }

        return status;
    }

    private static async Task<(PayloadDescriptor Descriptor, uint Crc)> ReadHeaderAsync(PipeReader reader, DataPlaneTicket ticket, CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var consumed = WireFormat.TryReadHeader(read.Buffer, out var transferId, out var descriptor, out var crc);
            if (consumed > 0)
            {
                reader.AdvanceTo(read.Buffer.GetPosition(consumed));
                if (transferId != ticket.TransferId)
                {
                    throw Failure(ticket, $"the producer answered with transfer {transferId}", retryable: false);
                }

                if (descriptor!.ByteLength != ticket.Payload.ByteLength)
                {
                    throw Failure(ticket, $"the producer holds {descriptor.ByteLength} bytes but the ticket says {ticket.Payload.ByteLength}", retryable: false);
                }

                return (descriptor, crc);
            }

            if (read.IsCompleted)
            {
                throw Failure(ticket, "the producer closed the connection inside the header", retryable: true);
            }

            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    private static async Task<(byte[] Buffer, uint Crc)> ReadPayloadAsync(PipeReader reader, DataPlaneTicket ticket, PayloadDescriptor descriptor, uint expectedCrc, CancellationToken cancellationToken)
    {
        var length = (int)descriptor.ByteLength;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, length));
        try
        {
            var crc = new Crc32();
            var received = 0;
            while (received < length)
            {
                var read = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var take = read.Buffer.Slice(0, Math.Min(read.Buffer.Length, length - received));
                foreach (var segment in take)
                {
                    segment.Span.CopyTo(buffer.AsSpan(received));
                    crc.Append(segment.Span);
                    received += segment.Length;
                }

                reader.AdvanceTo(take.End);
                if (received < length && read.IsCompleted)
                {
                    throw Failure(ticket, $"the producer closed the connection after {received} of {length} payload bytes", retryable: true);
                }
            }

            var actual = crc.GetCurrentHashAsUInt32();
            if (actual != expectedCrc)
            {
                throw Failure(ticket, $"checksum mismatch: CRC-32 of the {length} received bytes is {actual:x8}, the producer sent {expectedCrc:x8}", retryable: true);
            }

            return (buffer, actual);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private static TransferFailedException Failure(DataPlaneTicket ticket, string problem, bool retryable, Exception? inner = null) =>
        new($"transfer {ticket.TransferId} from data-plane endpoint {ticket.Endpoint}: {problem}{(retryable ? " (retryable: the payload stays parked)" : "")}", retryable, inner);

    private static string Describe(Exception e) => e is SocketException s ? s.SocketErrorCode.ToString() : e.Message;
}
