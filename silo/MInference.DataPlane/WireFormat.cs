using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace MInference.DataPlane;

/// <summary>
/// The data plane's frames, little-endian. Request: op (1 byte) + transfer id (16). Fetch reply: status (1);
/// when found: transfer id (16), byte length (8), rows (8), columns (4), CRC-32 of the payload (4), dtype
/// length (1), dtype ASCII, then the payload. Acknowledge reply: status (1).
/// Device fetch (CUDA IPC between processes of one host): the request adds device protocol version (1),
/// host identity length (1) and the receiver's host identity (ASCII); the reply is status (1), then when
/// found the descriptor length (2) and the descriptor, when refused a <see cref="DeviceRefusal"/> (1), a
/// reason length (1) and the reason (ASCII). Later versions keep the version byte and the host identity
/// first, so every listener can read and refuse them. A listener older than the device fetch closes the connection on its op; one of another
/// version refuses, naming both versions.
/// </summary>
internal static class WireFormat
{
    public const int RequestLength = 17;
    public const int FixedHeaderLength = 16 + 8 + 8 + 4 + 4 + 1;

    public const byte OpFetch = 1;
    public const byte OpAcknowledge = 2;
    public const byte OpFetchDevice = 3;

    /// <summary>Version of the device-fetch request and reply; a listener refuses any other.</summary>
    public const byte DeviceProtocolVersion = 1;

    public const byte StatusFound = 0;
    public const byte StatusUnknown = 1;

    /// <summary>Device fetch only: the listener will not hand out a device handle (the reason follows); fetch bytes instead.</summary>
    public const byte StatusRefused = 2;

    public const int MaxReasonLength = byte.MaxValue;

    public static void WriteDeviceRequest(IBufferWriter<byte> writer, Guid transferId, byte version, string hostId)
    {
        var length = Encoding.ASCII.GetByteCount(hostId);
        WriteRequest(writer, OpFetchDevice, transferId);
        var span = writer.GetSpan(2 + length);
        span[0] = version;
        span[1] = checked((byte)length);
        Encoding.ASCII.GetBytes(hostId, span.Slice(2, length));
        writer.Advance(2 + length);
    }

    public static void WriteDeviceFound(IBufferWriter<byte> writer, ReadOnlySpan<byte> descriptor)
    {
        var span = writer.GetSpan(3 + descriptor.Length);
        span[0] = StatusFound;
        BinaryPrimitives.WriteUInt16LittleEndian(span.Slice(1, 2), checked((ushort)descriptor.Length));
        descriptor.CopyTo(span[3..]);
        writer.Advance(3 + descriptor.Length);
    }

    public static void WriteRefusal(IBufferWriter<byte> writer, DeviceRefusal refusal, string reason)
    {
        var ascii = new string([.. reason.Take(MaxReasonLength).Select(c => c is >= ' ' and <= '~' ? c : '?')]);
        var span = writer.GetSpan(3 + ascii.Length);
        span[0] = StatusRefused;
        span[1] = (byte)refusal;
        span[2] = (byte)ascii.Length;
        Encoding.ASCII.GetBytes(ascii, span.Slice(3, ascii.Length));
        writer.Advance(3 + ascii.Length);
    }

    public static void WriteRequest(IBufferWriter<byte> writer, byte op, Guid transferId)
    {
        var span = writer.GetSpan(RequestLength);
        span[0] = op;
        transferId.TryWriteBytes(span.Slice(1, 16));
        writer.Advance(RequestLength);
    }

    public static (byte Op, Guid TransferId) ReadRequest(ReadOnlySequence<byte> frame)
    {
        Span<byte> bytes = stackalloc byte[RequestLength];
        frame.Slice(0, RequestLength).CopyTo(bytes);
        return (bytes[0], new Guid(bytes.Slice(1, 16)));
    }

    public static void WriteHeader(IBufferWriter<byte> writer, Guid transferId, PayloadDescriptor descriptor, uint crc)
    {
        var dtypeLength = Encoding.ASCII.GetByteCount(descriptor.DType);
        var span = writer.GetSpan(1 + FixedHeaderLength + dtypeLength);
        span[0] = StatusFound;
        transferId.TryWriteBytes(span.Slice(1, 16));
        BinaryPrimitives.WriteInt64LittleEndian(span.Slice(17, 8), descriptor.ByteLength);
        BinaryPrimitives.WriteInt64LittleEndian(span.Slice(25, 8), descriptor.Rows);
        BinaryPrimitives.WriteInt32LittleEndian(span.Slice(33, 4), descriptor.Columns);
        BinaryPrimitives.WriteUInt32LittleEndian(span.Slice(37, 4), crc);
        span[41] = (byte)dtypeLength;
        Encoding.ASCII.GetBytes(descriptor.DType, span.Slice(42, dtypeLength));
        writer.Advance(1 + FixedHeaderLength + dtypeLength);
    }

    /// <summary>Parses a header (after the status byte) once enough bytes are there; returns consumed bytes or 0.</summary>
    public static int TryReadHeader(ReadOnlySequence<byte> buffer, out Guid transferId, out PayloadDescriptor? descriptor, out uint crc)
    {
        transferId = Guid.Empty;
        descriptor = null;
        crc = 0;
        if (buffer.Length < FixedHeaderLength)
        {
            return 0;
        }

        Span<byte> fixedPart = stackalloc byte[FixedHeaderLength];
        buffer.Slice(0, FixedHeaderLength).CopyTo(fixedPart);
        int dtypeLength = fixedPart[FixedHeaderLength - 1];
        if (buffer.Length < FixedHeaderLength + dtypeLength)
        {
            return 0;
        }

        Span<byte> dtype = stackalloc byte[dtypeLength];
        buffer.Slice(FixedHeaderLength, dtypeLength).CopyTo(dtype);
        transferId = new Guid(fixedPart[..16]);
        var byteLength = BinaryPrimitives.ReadInt64LittleEndian(fixedPart.Slice(16, 8));
        var rows = BinaryPrimitives.ReadInt64LittleEndian(fixedPart.Slice(24, 8));
        var columns = BinaryPrimitives.ReadInt32LittleEndian(fixedPart.Slice(32, 4));
        crc = BinaryPrimitives.ReadUInt32LittleEndian(fixedPart.Slice(36, 4));
        descriptor = new PayloadDescriptor(Encoding.ASCII.GetString(dtype), rows, columns, byteLength);
        return FixedHeaderLength + dtypeLength;
    }
}
