using System.Diagnostics;
using MInference.Kernels.Backends;

namespace MInference.Kernels.Cpu;

/// <summary>One measured causal attention call: a whole prompt of <c>Tokens</c> attending to itself.</summary>
public sealed record AttentionMeasurement(int Tokens, int QueryHeads, int KeyValueHeads, int HeadDim, int Repeats, double MedianSeconds)
{
    /// <summary>QKᵀ and PV over the causal half: 2 · 2 · n²/2 · d per head.</summary>
    public double Flops => 2.0 * Tokens * (double)Tokens * HeadDim * QueryHeads;

    public double GigaflopsPerSecond => Flops / MedianSeconds / 1e9;
}

/// <summary>Times the backend's dense causal attention: a warm-up call, then the median of repeats on fresh random Q/K/V.</summary>
public static class CpuAttentionBenchmark
{
    public static AttentionMeasurement Measure(IComputeBackend backend, int tokens, int queryHeads, int keyValueHeads, int headDim, int repeats, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        var random = new Random(seed);
        using var output = backend.Allocate(tokens, queryHeads * headDim);
        var times = new double[repeats];
        for (var r = -1; r < repeats; r++)
        {
            using var q = backend.Upload(RandomValues(random, (long)tokens * queryHeads * headDim), tokens, queryHeads * headDim);
            using var k = backend.Upload(RandomValues(random, (long)tokens * keyValueHeads * headDim), tokens, keyValueHeads * headDim);
            using var v = backend.Upload(RandomValues(random, (long)tokens * keyValueHeads * headDim), tokens, keyValueHeads * headDim);
            var watch = Stopwatch.StartNew();
            backend.Attention(new AttentionArguments(q, k, v, output, 0, queryHeads, keyValueHeads, headDim));
            backend.Synchronize();
            if (r >= 0)
            {
                times[r] = watch.Elapsed.TotalSeconds;
            }
        }

        Array.Sort(times);
        return new AttentionMeasurement(tokens, queryHeads, keyValueHeads, headDim, repeats, times[repeats / 2]);
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
