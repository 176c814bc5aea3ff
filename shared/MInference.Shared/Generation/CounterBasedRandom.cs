using System.Runtime.CompilerServices;
using System.Text;

namespace MInference.Shared.Generation;

/// <summary>
/// A counter-based generator: element i of a tensor is a pure function of (seed, tensor name, i), so
/// tensors and chunks can be generated in any order, on any number of threads, on any machine, and
/// give the same bits. Integer mixing is SplitMix64's finaliser; the only float operation is one
/// IEEE multiply per element, which is exact-rounded everywhere.
/// </summary>
public static class CounterBasedRandom
{
    private const ulong GoldenGamma = 0x9E37_79B9_7F4A_7C15UL;

    /// <summary>2^24: uniform values come from 24-bit integers, which f32 holds exactly.</summary>
    private const int UniformBits = 24;

    /// <summary>The stream key of one tensor: the seed mixed with the FNV-1a hash of the tensor's name.</summary>
    public static ulong TensorKey(ulong seed, string tensorName)
    {
        var hash = 0xCBF2_9CE4_8422_2325UL;
        foreach (var b in Encoding.UTF8.GetBytes(tensorName))
        {
            hash = (hash ^ b) * 0x0000_0100_0000_01B3UL;
        }

        return Mix(Mix(seed) ^ hash);
    }

    /// <summary>
    /// Fills <paramref name="destination"/> with elements [<paramref name="firstElement"/>, +length) of the
    /// stream <paramref name="key"/>: uniform on (-<paramref name="halfWidth"/>, +<paramref name="halfWidth"/>),
    /// plus <paramref name="offset"/>.
    /// </summary>
    public static void FillUniform(ulong key, long firstElement, float halfWidth, float offset, Span<float> destination)
    {
        // Odd integers in (-2^24, 2^24) times halfWidth / 2^24: symmetric, never exactly zero.
        var step = halfWidth / (1 << UniformBits);
        for (var j = 0; j < destination.Length; j++)
        {
            var element = firstElement + j;
            // One 64-bit hash feeds two consecutive elements (its two halves).
            var hash = Mix(key + (ulong)(element >> 1) * GoldenGamma);
            var half = (uint)((element & 1) == 0 ? hash : hash >> 32);
            var odd = (int)((half >> (32 - UniformBits)) << 1) + 1 - (1 << UniformBits);
            destination[j] = ((float)odd * step) + offset;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }
}
