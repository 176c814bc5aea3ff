using MInference.Kernels.Backends;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>Random inputs, bf16 rounding and the error measure the GPU tests share.</summary>
internal static class Numerics
{
    /// <summary>Relative L2 error that bf16 storage (8 mantissa bits) with f32 accumulation stays under.</summary>
    public const double Bf16Tolerance = 1e-2;

    /// <summary>A fresh seed per call, reported in failure messages so a failure can be replayed.</summary>
    public static int FreshSeed() => Random.Shared.Next();

    public static float[] RandomValues(Random random, long count, float scale = 1f)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1) * scale;
        }

        return values;
    }

    /// <summary>Round-to-nearest-even to bf16 and back, as the GPU stores the value.</summary>
    public static float RoundToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return value;
        }

        var rounded = (bits + 0x7FFFu + ((bits >> 16) & 1)) & 0xFFFF0000u;
        return BitConverter.UInt32BitsToSingle(rounded);
    }

    public static float[] RoundToBFloat16(float[] values) => values.Select(RoundToBFloat16).ToArray();

    public static double RelativeL2(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0, norm = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            double d = actual[i] - expected[i];
            diff += d * d;
            norm += (double)expected[i] * expected[i];
        }

        return Math.Sqrt(diff / Math.Max(norm, 1e-30));
    }

    /// <summary>Every element finite (the output was poisoned with NaN) and the relative L2 error within bound.</summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, int seed, string what, double tolerance = Bf16Tolerance)
    {
        for (var i = 0; i < actual.Length; i++)
        {
            if (!float.IsFinite(actual[i]))
            {
                Assert.Fail($"{what} (seed {seed}): element {i} is {actual[i]}: not written or overflowed");
            }
        }

        var error = RelativeL2(actual, expected);
        Assert.True(error <= tolerance, $"{what} (seed {seed}): relative L2 error {error:E3} exceeds {tolerance:E1}");
    }

    public static float[] Download(IComputeBackend backend, IDeviceTensor tensor)
    {
        var values = new float[tensor.Rows * tensor.Columns];
        backend.Download(tensor, values);
        return values;
    }
}
