using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MInference.Shared.Models;

/// <summary>
/// Conversions between the stored dtypes (little-endian bf16/f16/f32 bytes) and f32. bf16 → f32 is a
/// 16-bit shift, done 16 elements at a time with Vector256 where the hardware has it.
/// </summary>
public static class TensorConversion
{
    /// <summary>Converts <paramref name="source"/> bytes of dtype <paramref name="dtype"/> into f32.</summary>
    public static void ToFloat32(TensorDType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("model files are little-endian and so must the host be");
        }

        var elementSize = dtype.SizeInBytes();
        if (source.Length != (long)destination.Length * elementSize)
        {
            throw new ArgumentException(
                $"{source.Length} source bytes of {dtype} hold {source.Length / elementSize} elements but the destination has {destination.Length}",
                nameof(destination));
        }

        switch (dtype)
        {
            case TensorDType.BFloat16:
                BFloat16ToFloat32(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case TensorDType.Float16:
                Float16ToFloat32(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            case TensorDType.Float32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown tensor dtype");
        }
    }

    public static void BFloat16ToFloat32(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (source.Length != destination.Length)
        {
            throw new ArgumentException($"source has {source.Length} elements, destination {destination.Length}", nameof(destination));
        }

        var output = MemoryMarshal.Cast<float, uint>(destination);
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref var sourceStart = ref MemoryMarshal.GetReference(source);
            ref var outputStart = ref MemoryMarshal.GetReference(output);
            for (; i <= source.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var packed = Vector256.LoadUnsafe(ref sourceStart, (nuint)i);
                var (lower, upper) = Vector256.Widen(packed);
                Vector256.ShiftLeft(lower, 16).StoreUnsafe(ref outputStart, (nuint)i);
                Vector256.ShiftLeft(upper, 16).StoreUnsafe(ref outputStart, (nuint)(i + Vector256<uint>.Count));
            }
        }

        for (; i < source.Length; i++)
        {
            output[i] = (uint)source[i] << 16;
        }
    }

    public static void Float16ToFloat32(ReadOnlySpan<Half> source, Span<float> destination)
    {
        if (source.Length != destination.Length)
        {
            throw new ArgumentException($"source has {source.Length} elements, destination {destination.Length}", nameof(destination));
        }

        for (var i = 0; i < source.Length; i++)
        {
            destination[i] = (float)source[i];
        }
    }

    /// <summary>f32 → bf16 with round-to-nearest-even (as PyTorch does); NaN stays NaN.</summary>
    public static ushort Float32ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
        {
            return (ushort)((bits >> 16) | 0x0040);
        }

        var roundingBias = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>Writes <paramref name="source"/> as little-endian bf16 bytes.</summary>
    public static void Float32ToBFloat16(ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (destination.Length != source.Length * 2)
        {
            throw new ArgumentException($"{source.Length} elements need {source.Length * 2} bytes, destination has {destination.Length}", nameof(destination));
        }

        for (var i = 0; i < source.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * i)..], Float32ToBFloat16(source[i]));
        }
    }
}
