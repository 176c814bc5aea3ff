using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;

namespace MInference.Kernels.Tests.Cpu;

/// <summary>Seeded random inputs, NaN-poisoned outputs and the error measure the CPU op tests share.</summary>
internal static class TestData
{
    /// <summary>f32 ops against a double reference: a few ulps of accumulated rounding, far below any real bug.</summary>
    public const double F32Tolerance = 1e-5;

    public static float[] Random(Random random, long count, float scale = 1f)
    {
        var values = new float[count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1) * scale;
        }

        return values;
    }

    /// <summary>An output tensor filled with NaN, so any element the op forgets to write fails the check.</summary>
    public static CpuTensor Poisoned(CpuBackend backend, long rows, int columns)
    {
        var tensor = (CpuTensor)backend.Allocate(rows, columns);
        tensor.AsSpan().Fill(float.NaN);
        return tensor;
    }

    public static CpuTensor Upload(CpuBackend backend, float[] values, long rows, int columns)
        => (CpuTensor)backend.Upload(values, rows, columns);

    public static float[] Download(IComputeBackend backend, IDeviceTensor tensor)
    {
        var values = new float[tensor.Rows * tensor.Columns];
        backend.Download(tensor, values);
        return values;
    }

    /// <summary>||actual - expected|| / ||expected||; NaN anywhere in actual makes it NaN (which fails any bound).</summary>
    public static double RelativeL2(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double difference = 0, norm = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var delta = actual[i] - expected[i];
            difference += delta * delta;
            norm += expected[i] * expected[i];
        }

        return Math.Sqrt(difference / norm);
    }

    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double tolerance = F32Tolerance)
    {
        foreach (var value in actual)
        {
            Assert.False(float.IsNaN(value) || float.IsInfinity(value), "output holds NaN or infinity: an element was not written or overflowed");
        }

        var error = RelativeL2(actual, expected);
        Assert.True(error <= tolerance, $"relative L2 error {error:E3} exceeds {tolerance:E1}");
    }
}
