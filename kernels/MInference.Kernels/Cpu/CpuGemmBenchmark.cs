using System.Diagnostics;
using System.Runtime.InteropServices;
using MInference.Kernels.Backends;
using MInference.Shared.Models;

namespace MInference.Kernels.Cpu;

/// <summary>One measured GEMM shape: out[n, m] = in[n, k] · W[m, k]ᵀ.</summary>
public sealed record GemmMeasurement(int Tokens, int Outputs, int Depth, int Repeats, double MedianSeconds)
{
    public double Flops => 2.0 * Tokens * Outputs * Depth;

    public double GigaflopsPerSecond => Flops / MedianSeconds / 1e9;
}

/// <summary>
/// Times the backend's Linear op: a warm-up call (which also packs the weight), then the median of
/// repeats on fresh random inputs. A benchmark, not a test: it asserts nothing.
/// </summary>
public static class CpuGemmBenchmark
{
    public static GemmMeasurement Measure(IComputeBackend backend, int tokens, int outputs, int depth, int repeats, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        var random = new Random(seed);
        var weightValues = RandomValues(random, (long)outputs * depth);
        using var weight = backend.UploadWeight(MemoryMarshal.AsBytes(weightValues.AsSpan()), TensorDType.Float32, outputs, depth);
        using var output = backend.Allocate(tokens, outputs);
        var times = new double[repeats];
        for (var r = -1; r < repeats; r++)
        {
            using var input = backend.Upload(RandomValues(random, (long)tokens * depth), tokens, depth);
            var watch = Stopwatch.StartNew();
            backend.Linear(input, weight, null, output);
            backend.Synchronize();
            if (r >= 0)
            {
                times[r] = watch.Elapsed.TotalSeconds;
            }
        }

        Array.Sort(times);
        return new GemmMeasurement(tokens, outputs, depth, repeats, times[repeats / 2]);
    }

    private static float[] RandomValues(Random random, long count)
    {
        var values = new float[count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 1);
        }

        return values;
    }
}
