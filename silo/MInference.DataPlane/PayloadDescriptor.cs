namespace MInference.DataPlane;

/// <summary>What a parked payload holds: element type name (e.g. "F32", "BF16"), matrix shape and byte length.</summary>
public sealed record PayloadDescriptor(string DType, long Rows, int Columns, long ByteLength)
{
    /// <summary>Longest dtype name the wire header carries (one length byte, ASCII).</summary>
    public const int MaxDTypeLength = 32;

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(DType);
        if (DType.Length > MaxDTypeLength || DType.Any(c => c > 127))
        {
            throw new ArgumentException($"dtype '{DType}' must be ASCII and at most {MaxDTypeLength} characters", nameof(DType));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(Rows);
        ArgumentOutOfRangeException.ThrowIfNegative(Columns);
        ArgumentOutOfRangeException.ThrowIfNegative(ByteLength);
        if (ByteLength > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(ByteLength), ByteLength, $"a payload is at most {Array.MaxLength} bytes (one pooled array)");
        }
    }
}
