using System.Buffers;

namespace MInference.DataPlane;

/// <summary>A fetched, verified payload in a pooled buffer; dispose it to give the buffer back.</summary>
public sealed class ReceivedPayload : IDisposable
{
    private byte[]? _buffer;

    internal ReceivedPayload(Guid transferId, PayloadDescriptor descriptor, byte[] buffer)
    {
        TransferId = transferId;
        Descriptor = descriptor;
        _buffer = buffer;
    }

    public Guid TransferId { get; }

    public PayloadDescriptor Descriptor { get; }

    /// <summary>The payload bytes; invalid after <see cref="Dispose"/>.</summary>
    public ReadOnlyMemory<byte> Bytes
    {
        get
        {
            ObjectDisposedException.ThrowIf(_buffer is null, this);
            return _buffer.AsMemory(0, (int)Descriptor.ByteLength);
        }
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
