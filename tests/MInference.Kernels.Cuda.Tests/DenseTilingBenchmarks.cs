using System.Globalization;
using System.Text.Json;
using MInference.Kernels.Backends;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// Each d-128 tiling of the tensor-core dense attention at the Llama-3-8B layer shape (32/8 heads):
/// explicit (remote.sh's bench step), asserts nothing about speed, appends one JSON line per case to
/// $MINFERENCE_BENCH_OUT/attention.jsonl. CUDA events, one warm-up, median of repeats, random inputs.
/// </summary>
public sealed class DenseTilingBenchmarks(CudaFixture fixture)
{
    public static TheoryData<string, int, int> Cases()
    {
        var data = new TheoryData<string, int, int>();
        foreach (var tiling in DenseAttentionTiling.All.Where(t => t.HeadDim == 128))
        {
            data.Add(tiling.KernelName, 32 * 1024, 5);
            data.Add(tiling.KernelName, 128 * 1024, 3);
        }

        return data;
    }

    /// <summary>Times one causal self-attention layer with one tiling and checks a sampled output row is finite.</summary>
    [Theory(Explicit = true)]
    [MemberData(nameof(Cases))]
    public void Dense_tiling(string kernelName, int tokens, int repeats)
    {
        const int QueryHeads = AttentionBenchmarks.QueryHeads;
        const int KvHeads = AttentionBenchmarks.KvHeads;
        const int HeadDim = AttentionBenchmarks.HeadDim;
        var tiling = DenseAttentionTiling.All.Single(t => t.KernelName == kernelName);
        var backend = fixture.Backend;
        backend.AttentionKernel = FlashAttentionKernel.TensorCore;
        backend.AttentionTiling = tiling;
        try
        {
            using var query = backend.Allocate(tokens, QueryHeads * HeadDim);
            using var keys = backend.Allocate(tokens, KvHeads * HeadDim);
            using var values = backend.Allocate(tokens, KvHeads * HeadDim);
            using var output = backend.Allocate(tokens, QueryHeads * HeadDim);
            backend.FillRandom(query, 1);
            backend.FillRandom(keys, 2);
            backend.FillRandom(values, 3);
            backend.Poison(output);
            var arguments = new AttentionArguments(query, keys, values, output, 0, QueryHeads, KvHeads, HeadDim);
            using var start = new CudaEvent(backend.Context);
            using var end = new CudaEvent(backend.Context);
            backend.Attention(arguments);
            backend.Synchronize();
            var times = new List<double>();
            for (var i = 0; i < repeats; i++)
            {
                start.Record(backend.Stream);
                backend.Attention(arguments);
                end.Record(backend.Stream);
                end.Synchronize();
                times.Add(end.ElapsedSince(start));
            }

            using var last = output.SliceRows(tokens - 1, 1);
            Assert.All(Numerics.Download(backend, last), value => Assert.True(float.IsFinite(value)));
            times.Sort();
            var median = times[times.Count / 2];
            var flops = 4.0 * HeadDim * QueryHeads * tokens * (tokens + 1.0) / 2;
            var line = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["gpu"] = backend.Name,
                ["kernel"] = tiling.KernelName,
                ["tiling"] = tiling.ToString(),
                ["tokens"] = tokens,
                ["median_ms"] = Math.Round(median, 3),
                ["min_ms"] = Math.Round(times[0], 3),
                ["max_ms"] = Math.Round(times[^1], 3),
                ["repeats"] = repeats,
                ["tflops"] = Math.Round(flops / (median * 1e-3) / 1e12, 1),
                ["date"] = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture),
            });
            TestContext.Current.SendDiagnosticMessage(line);
            if (Environment.GetEnvironmentVariable("MINFERENCE_BENCH_OUT") is { Length: > 0 } directory)
            {
                File.AppendAllLines(Path.Combine(directory, "attention.jsonl"), [line]);
            }
        }
        finally
        {
            backend.AttentionTiling = null;
        }
    }
}
