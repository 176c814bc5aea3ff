using System.Globalization;
using System.Text.Json;
using MInference.Kernels.Backends;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// Dense attention timings at the Llama-3-8B layer shape (32 query heads, 8 KV heads, d 128). Explicit:
/// they run only when asked (remote.sh's bench step), assert nothing about speed, and append one JSON
/// line per case to $MINFERENCE_BENCH_OUT/attention.jsonl. CUDA events, one warm-up, median of repeats,
/// random (non-zero) inputs.
/// </summary>
public sealed class AttentionBenchmarks(CudaFixture fixture)
{
    internal const int QueryHeads = 32;
    internal const int KvHeads = 8;
    internal const int HeadDim = 128;

    /// <summary>Times one causal self-attention layer of <paramref name="tokens"/> tokens and checks its output is finite.</summary>
    [Theory(Explicit = true)]
    [InlineData(FlashAttentionKernel.Simple, 8 * 1024, 3)]
    [InlineData(FlashAttentionKernel.TensorCore, 8 * 1024, 5)]
    [InlineData(FlashAttentionKernel.TensorCore, 32 * 1024, 5)]
    [InlineData(FlashAttentionKernel.TensorCore, 128 * 1024, 3)]
    [InlineData(FlashAttentionKernel.TensorCore, 512 * 1024, 1)]
    public void Dense_causal_attention_layer(FlashAttentionKernel kernel, int tokens, int repeats)
    {
        var backend = fixture.Backend;
        backend.AttentionKernel = kernel;
        using var query = backend.Allocate(tokens, QueryHeads * HeadDim);
        using var keys = backend.Allocate(tokens, KvHeads * HeadDim);
        using var values = backend.Allocate(tokens, KvHeads * HeadDim);
        using var output = backend.Allocate(tokens, QueryHeads * HeadDim);
        backend.FillRandom(query, 1);
        backend.FillRandom(keys, 2);
        backend.FillRandom(values, 3);
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

        var sample = Numerics.Download(backend, output.SliceRows(tokens - 1, 1));
        Assert.All(sample, value => Assert.True(float.IsFinite(value)));

        times.Sort();
        var median = times[times.Count / 2];
        // Causal: each of the QueryHeads heads does QKᵀ and PV over tokens·(tokens+1)/2 pairs, 2 flops per multiply-add.
        var flops = 4.0 * HeadDim * QueryHeads * tokens * (tokens + 1.0) / 2;
        var record = new Dictionary<string, object>
        {
            ["gpu"] = backend.Name,
            ["kernel"] = kernel.ToString(),
            ["tokens"] = tokens,
            ["query_heads"] = QueryHeads,
            ["kv_heads"] = KvHeads,
            ["head_dim"] = HeadDim,
            ["median_ms"] = Math.Round(median, 3),
            ["min_ms"] = Math.Round(times[0], 3),
            ["repeats"] = repeats,
            ["tflops"] = Math.Round(flops / (median * 1e-3) / 1e12, 1),
            ["date"] = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture),
        };
        Write(JsonSerializer.Serialize(record));
    }

    /// <summary>Times one decode step (one query row, all 32 heads) over a cache of <paramref name="keys"/> keys; reports the K/V bandwidth.</summary>
    [Theory(Explicit = true)]
    [InlineData(128 * 1024)]
    [InlineData(1024 * 1024)]
    public void Decode_over_a_long_cache(int keys)
    {
        var backend = fixture.Backend;
        using var query = backend.Allocate(1, QueryHeads * HeadDim);
        using var keyCache = backend.Allocate(keys, KvHeads * HeadDim);
        using var valueCache = backend.Allocate(keys, KvHeads * HeadDim);
        using var output = backend.Allocate(1, QueryHeads * HeadDim);
        backend.FillRandom(query, 1);
        backend.FillRandom(keyCache, 2);
        backend.FillRandom(valueCache, 3);
        var arguments = new AttentionArguments(query, keyCache, valueCache, output, keys - 1, QueryHeads, KvHeads, HeadDim);
        using var start = new CudaEvent(backend.Context);
        using var end = new CudaEvent(backend.Context);
        backend.Attention(arguments);
        backend.Synchronize();
        var times = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            start.Record(backend.Stream);
            backend.Attention(arguments);
            end.Record(backend.Stream);
            end.Synchronize();
            times.Add(end.ElapsedSince(start));
        }

        times.Sort();
        var median = times[times.Count / 2];
        var bytes = 2.0 * keys * KvHeads * HeadDim * 2;
        var record = new Dictionary<string, object>
        {
            ["gpu"] = backend.Name,
            ["kernel"] = "decode (split)",
            ["keys"] = keys,
            ["query_heads"] = QueryHeads,
            ["kv_heads"] = KvHeads,
            ["head_dim"] = HeadDim,
            ["median_ms"] = Math.Round(median, 4),
            ["kv_gbps"] = Math.Round(bytes / (median * 1e-3) / 1e9, 0),
            ["date"] = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture),
        };
        Write(JsonSerializer.Serialize(record));
    }

    private static void Write(string line)
    {
        TestContext.Current.SendDiagnosticMessage(line);
        var directory = Environment.GetEnvironmentVariable("MINFERENCE_BENCH_OUT");
        if (!string.IsNullOrEmpty(directory))
        {
            File.AppendAllLines(Path.Combine(directory, "attention.jsonl"), [line]);
        }
    }
}
