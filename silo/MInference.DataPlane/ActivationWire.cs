using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace MInference.DataPlane;

/// <summary>
/// Element types activations travel in between silos, and the conversions to and from the f32 the stages
/// hand over. bf16 halves the bytes on the wire; it is lossless for GPU stages (their hidden states are
/// bf16 already) and rounds CPU stages' f32 to nearest-even, a relative error of at most
/// <see cref="BFloat16RelativeError"/> per element.
/// </summary>
public static class ActivationWire
{
    public const string F32 = "F32";

    public const string BF16 = "BF16";

    /// <summary><see cref="DataPlaneOptions.ActivationDType"/>: bf16 where the producer computes in bf16, f32 otherwise.</summary>
    public const string Auto = "Auto";

    /// <summary>
    /// Round-to-nearest-even to 8 significant bits: half a unit in the last place is 2^-8 of the power of
    /// two below the value, so 2^-8 relative at most (reached just above a power of two).
    /// </summary>
    public const double BFloat16RelativeError = 1.0 / 256;

    /// <summary>Bytes per element of a wire dtype.</summary>
    /// <exception cref="ArgumentException">Neither <see cref="F32"/> nor <see cref="BF16"/>.</exception>
    public static int ElementSize(string dtype) => dtype switch
    {
        F32 => sizeof(float),
        BF16 => sizeof(ushort),
        _ => throw new ArgumentException($"activation wire dtype '{dtype}' is not one of {F32}, {BF16}", nameof(dtype)),
    };

    /// <summary>
    /// The dtype to send: the configured one, or under <see cref="Auto"/> bf16 exactly when the producer's
    /// activations are bf16 (nothing is lost then) and f32 otherwise (CPU results stay bit-identical).
    /// </summary>
    public static string Resolve(string configured, bool producerComputesInBFloat16)
    {
        ArgumentException.ThrowIfNullOrEmpty(configured);
        if (string.Equals(configured, Auto, StringComparison.Ordinal))
        {
            return producerComputesInBFloat16 ? BF16 : F32;
        }

        _ = ElementSize(configured);
        return configured;
    }

    /// <summary>Writes <paramref name="values"/> in <paramref name="dtype"/> (little-endian); returns the bytes written.</summary>
    public static int Encode(ReadOnlySpan<float> values, string dtype, Span<byte> destination)
    {
        var length = checked(values.Length * ElementSize(dtype));
        if (destination.Length < length)
        {
            throw new ArgumentException($"{values.Length} {dtype} elements need {length} bytes, the destination holds {destination.Length}", nameof(destination));
        }

        if (dtype == F32 && BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values).CopyTo(destination);
            return length;
        }

        if (dtype == F32)
        {
            for (var i = 0; i < values.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(destination[(i * 4)..], values[i]);
            }

            return length;
        }

        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(destination[(i * 2)..], ToBFloat16(values[i]));
        }

        return length;
    }

    /// <summary>Reads <paramref name="source"/> (elements of <paramref name="dtype"/>) into f32 values.</summary>
    public static void Decode(ReadOnlySpan<byte> source, string dtype, Span<float> destination)
    {
        var size = ElementSize(dtype);
        if (source.Length != (long)destination.Length * size)
        {
            throw new ArgumentException($"{source.Length} bytes of {dtype} do not hold {destination.Length} elements ({(long)destination.Length * size} bytes)", nameof(source));
        }

        if (dtype == F32 && BitConverter.IsLittleEndian)
        {
            source.CopyTo(MemoryMarshal.AsBytes(destination));
            return;
        }

        if (dtype == F32)
        {
            for (var i = 0; i < destination.Length; i++)
            {
                destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * 4)..]);
            }

            return;
        }

        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(source[(i * 2)..]) << 16);
        }
    }

    /// <summary>f32 to bf16 bits, round to nearest even; NaN stays a (quiet) NaN, infinities stay infinite.</summary>
    public static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
        {
            return (ushort)((bits >> 16) | 0x0040);
        }

        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }
}
