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
/// retryable <see cref="TransferFailedException"/> can succeed.
/// </summary>
public sealed class DataPlaneFetcher
{
    private readonly DataPlaneOptions _options;
    private readonly ILogger _logger;

    public DataPlaneFetcher(DataPlaneOptions options, ILogger<DataPlaneFetcher>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Fetches, verifies and acknowledges the payload of <paramref name="ticket"/>; the caller disposes the result.</summary>
    public async Task<ReceivedPayload> FetchAsync(DataPlaneTicket ticket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.TransferTimeout);
        try
        {
            return await FetchCoreAsync(ticket, deadline.Token).ConfigureAwait(false);
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

    private async Task<ReceivedPayload> FetchCoreAsync(DataPlaneTicket ticket, CancellationToken cancellationToken)
    {
        var socket = await ConnectAsync(ticket, cancellationToken).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = PipeReader.Create(stream);
        var writer = PipeWriter.Create(stream);
        try
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
                WireFormat.WriteRequest(writer, WireFormat.OpAcknowledge, ticket.TransferId);
                await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                var ack = await ReadStatusAsync(reader, ticket, "the acknowledgement reply", cancellationToken).ConfigureAwait(false);
                if (ack != WireFormat.StatusFound)
                {
                    // The bytes are verified; another receiver or a release freed them first.
                    _logger.LogWarning("Transfer {TransferId} from {Endpoint} was already freed when acknowledged", ticket.TransferId, ticket.Endpoint);
                }
            }
            catch
            {
                received.Dispose();
                throw;
            }

            if (_logger.IsEnabled(LogLevel.Debug)) _logger.LogDebug("Fetched transfer {TransferId} ({Bytes} bytes, crc {Crc:x8}) from {Endpoint}", ticket.TransferId, descriptor.ByteLength, crc, ticket.Endpoint);
            return received;
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            await writer.CompleteAsync().ConfigureAwait(false);
        }
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
