using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;

namespace MInference.Shared.Generation;

/// <summary>
/// A counter-based generator: element i of a tensor is a pure function of (seed, tensor name, i), so
/// tensors and chunks can be generated in any order, on any number of threads, on any machine, and
/// give the same bits. The hash is 32-bit integer arithmetic (two rounds of MurmurHash3's finaliser
/// around the counter), vectorised 8 lanes at a time; the only float operations are an exact
/// int → f32 conversion, one IEEE multiply and (for offset distributions) one IEEE add, so the vector
/// and scalar paths, and every machine, give identical results.
/// </summary>
public static class CounterBasedRandom
{
    /// <summary>Uniform values come from 24-bit integers, which f32 holds exactly.</summary>
    private const int UniformBits = 24;

    private const uint CounterMultiplier = 0x9E37_79B1u;

    /// <summary>The stream key of one tensor: the seed mixed with the FNV-1a hash of the tensor's name.</summary>
    public static ulong TensorKey(ulong seed, string tensorName)
    {
        var hash = 0xCBF2_9CE4_8422_2325UL;
        foreach (var b in Encoding.UTF8.GetBytes(tensorName))
        {
            hash = (hash ^ b) * 0x0000_0100_0000_01B3UL;
        }

        return Mix64(Mix64(seed) ^ hash);
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with elements [<paramref name="firstElement"/>, +length) of the
    /// stream <paramref name="key"/>: uniform on (-<paramref name="halfWidth"/>, +<paramref name="halfWidth"/>),
    /// plus <paramref name="offset"/>. Element indices must stay below 2^32 (the largest tensor of the
    /// shapes we generate has 0.55 × 2^30 elements).
    /// </summary>
    public static void FillUniform(ulong key, long firstElement, float halfWidth, float offset, Span<float> destination)
    {
        if (firstElement < 0 || firstElement + destination.Length > (1L << 32))
        {
            throw new ArgumentOutOfRangeException(
                nameof(firstElement),
                $"elements [{firstElement}, {firstElement + destination.Length}) fall outside the generator's 2^32 elements per tensor");
        }

        // Odd integers in (-2^24, 2^24) times halfWidth / 2^24: symmetric, never exactly zero.
        var step = halfWidth / (1 << UniformBits);
        var k0 = (uint)key;
        var k1 = (uint)(key >> 32);
        var start = (uint)firstElement;
        var j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var lanes = Vector256.Create(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u);
            var stepVector = Vector256.Create(step);
            var offsetVector = Vector256.Create(offset);
            var center = Vector256.Create(1 << UniformBits);
            ref var output = ref MemoryMarshal.GetReference(destination);
            for (; j <= destination.Length - Vector256<float>.Count; j += Vector256<float>.Count)
            {
                var counter = Vector256.Create(start + (uint)j) + lanes;
                var hash = Finalize(Finalize((counter * CounterMultiplier) + Vector256.Create(k0)) ^ Vector256.Create(k1));
                var odd = Vector256.AsInt32(Vector256.ShiftLeft(Vector256.ShiftRightLogical(hash, 32 - UniformBits), 1) + Vector256<uint>.One) - center;
                var value = Vector256.ConvertToSingle(odd) * stepVector;
                if (offset != 0f)
                {
                    value += offsetVector;
                }

                value.StoreUnsafe(ref output, (nuint)j);
            }
        }

        for (; j < destination.Length; j++)
        {
            var hash = Finalize(Finalize(((start + (uint)j) * CounterMultiplier) + k0) ^ k1);
            var odd = (int)(((hash >> (32 - UniformBits)) << 1) + 1) - (1 << UniformBits);
            var value = (float)odd * step;
            if (offset != 0f)
            {
                value += offset;
            }

            destination[j] = value;
        }
    }

    /// <summary>MurmurHash3's 32-bit finaliser: a bijection with full avalanche.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Finalize(uint h)
    {
        h ^= h >> 16;
        h *= 0x85EB_CA6Bu;
        h ^= h >> 13;
        h *= 0xC2B2_AE35u;
        return h ^ (h >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Finalize(Vector256<uint> h)
    {
        h ^= Vector256.ShiftRightLogical(h, 16);
        h *= 0x85EB_CA6Bu;
        h ^= Vector256.ShiftRightLogical(h, 13);
        h *= 0xC2B2_AE35u;
        return h ^ Vector256.ShiftRightLogical(h, 16);
    }

    /// <summary>SplitMix64's finaliser, for deriving keys.</summary>
    private static ulong Mix64(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }
}
