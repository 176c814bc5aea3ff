using System.Buffers.Binary;

namespace MInference.Kernels.Cuda.Transfer;

/// <summary>
/// What another process on the same host needs to copy an exported activation out of this process's GPU
/// memory: the CUDA IPC memory handle, the IPC handle of the event that marks the data written, the
/// matrix shape (bf16, row-major) and the exporting process (a process cannot open its own handles).
/// Travels as <see cref="EncodedLength"/> bytes (<see cref="Encode"/> / <see cref="Decode"/>).
/// </summary>
public sealed record CudaIpcDescriptor(byte[] MemoryHandle, byte[] EventHandle, long Rows, int Columns, int ExporterProcessId)
{
    public const int HandleLength = 64;

    /// <summary>Two handles, rows (8), columns (4), process id (4).</summary>
    public const int EncodedLength = (2 * HandleLength) + 16;

    /// <summary>Bytes of the exported bf16 matrix.</summary>
    public long ByteLength => Rows * Columns * 2L;

    public byte[] Encode()
    {
        Validate();
        var bytes = new byte[EncodedLength];
        MemoryHandle.CopyTo(bytes, 0);
        EventHandle.CopyTo(bytes, HandleLength);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(2 * HandleLength), Rows);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan((2 * HandleLength) + 8), Columns);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan((2 * HandleLength) + 12), ExporterProcessId);
        return bytes;
    }

    public static CudaIpcDescriptor Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != EncodedLength)
        {
            throw new ArgumentException($"a CUDA IPC descriptor is {EncodedLength} bytes, got {bytes.Length}", nameof(bytes));
        }

        var descriptor = new CudaIpcDescriptor(
            bytes[..HandleLength].ToArray(),
            bytes.Slice(HandleLength, HandleLength).ToArray(),
            BinaryPrimitives.ReadInt64LittleEndian(bytes[(2 * HandleLength)..]),
            BinaryPrimitives.ReadInt32LittleEndian(bytes[((2 * HandleLength) + 8)..]),
            BinaryPrimitives.ReadInt32LittleEndian(bytes[((2 * HandleLength) + 12)..]));
        descriptor.Validate();
        return descriptor;
    }

    internal void Validate()
    {
        if (MemoryHandle is not { Length: HandleLength } || EventHandle is not { Length: HandleLength })
        {
            throw new ArgumentException($"CUDA IPC handles are {HandleLength} bytes each, got {MemoryHandle?.Length} and {EventHandle?.Length}");
        }

        if (Rows < 0 || Columns <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Rows), $"shape [{Rows}, {Columns}] must have rows >= 0 and columns > 0");
        }
    }
}
