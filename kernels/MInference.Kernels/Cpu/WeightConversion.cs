using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using MInference.Shared.Models;

namespace MInference.Kernels.Cpu;

/// <summary>Widens raw little-endian weight bytes (bf16, f16, f32) to f32.</summary>
internal static class WeightConversion
{
    internal static void ToFloat32(ReadOnlySpan<byte> raw, TensorDType sourceDType, Span<float> destination)
    {
        var expected = (long)destination.Length * sourceDType.SizeInBytes();
        if (raw.Length != expected)
        {
            throw new ArgumentException(
                $"weight of {destination.Length} {sourceDType} elements needs {expected} bytes but {raw.Length} were given",
                nameof(raw));
        }

        switch (sourceDType)
        {
            case TensorDType.Float32:
                if (BitConverter.IsLittleEndian)
                {
                    MemoryMarshal.Cast<byte, float>(raw).CopyTo(destination);
                }
                else
                {
                    for (var i = 0; i < destination.Length; i++)
                    {
                        destination[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
                    }
                }

                break;
            case TensorDType.Float16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(raw), destination);
                break;
            case TensorDType.BFloat16:
                // bf16 is the top half of an f32: shifting its bits up 16 is exact.
                for (var i = 0; i < destination.Length; i++)
                {
                    var bits = (uint)BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]) << 16;
                    destination[i] = BitConverter.UInt32BitsToSingle(bits);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(sourceDType), sourceDType, "unknown weight dtype");
        }
    }
}
