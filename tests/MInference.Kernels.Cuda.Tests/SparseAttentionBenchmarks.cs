using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// Sparse attention timings at the Llama-3-8B layer shape (32 query heads, 8 KV heads, d 128) with the
/// <c>realistic</c> index distribution of DESIGN section 6, against our dense tensor-core kernel in the
/// same run. Explicit (remote.sh with MINFERENCE_GPU_BENCH=1 MINFERENCE_GPU_BENCH_CLASS=SparseAttentionBenchmarks);
/// asserts nothing about speed, appends one JSON line per pattern to $MINFERENCE_BENCH_OUT/attention.jsonl.
/// Indices are built on the CPU (one per KV head, shared by its query group, to bound host time);
/// kernel times are CUDA events around the launch only, median of repeats after one warm-up.
/// </summary>
public sealed class SparseAttentionBenchmarks(CudaFixture fixture)
{
    private const int QueryHeads = AttentionBenchmarks.QueryHeads;
    private const int KvHeads = AttentionBenchmarks.KvHeads;
    private const int HeadDim = AttentionBenchmarks.HeadDim;

    /// <summary>One full-prompt layer of <paramref name="tokens"/> tokens: dense, then VS (1000, 6096), block-sparse top-100, A-shape (1024, 4096); outputs checked finite.</summary>
    [Theory(Explicit = true)]
    [InlineData(128 * 1024, 3)]
    [InlineData(512 * 1024, 1)]
    [InlineData(1024 * 1024, 1)]
    public void Sparse_attention_layer_realistic(int tokens, int denseRepeats)
    {
        var backend = fixture.Backend;
        backend.AttentionKernel = FlashAttentionKernel.TensorCore;
        using var query = backend.Allocate(tokens, QueryHeads * HeadDim);
        using var keys = backend.Allocate(tokens, KvHeads * HeadDim);
        using var values = backend.Allocate(tokens, KvHeads * HeadDim);
        using var output = backend.Allocate(tokens, QueryHeads * HeadDim);
        backend.FillRandom(query, 11);
        backend.FillRandom(keys, 12);
        backend.FillRandom(values, 13);
        var arguments = new AttentionArguments(query, keys, values, output, 0, QueryHeads, KvHeads, HeadDim);
        var causalPairs = (double)tokens * (tokens + 1L) / 2;

        // The dense kernel is loaded and warm from the 128K case; the long ones are timed once.
        var dense = Time(backend, () => backend.Attention(arguments), denseRepeats, warmUp: tokens <= 128 * 1024);
        CheckFinite(backend, output, tokens);

        var group = QueryHeads / KvHeads;
        var clock = Stopwatch.StartNew();
        var vs = new VerticalSlashBlockIndex[KvHeads];
        Parallel.For(0, KvHeads, h => vs[h] = VerticalSlashBlockIndex.Build(RealisticSelection(new Random(100 + h), tokens, 1000, 6096)));
        var vsBuild = clock.Elapsed.TotalMilliseconds;
        var vsPairs = vs.Sum(VerticalSlashPairs) * group;
        using (var index = CudaSparseIndex.VerticalSlash(backend, [.. Enumerable.Range(0, QueryHeads).Select(h => vs[h / group])]))
        {
            backend.Poison(output);
            var ms = Time(backend, () => backend.SparseAttention(arguments, index), 5, warmUp: true);
            CheckFinite(backend, output, tokens);
            Report(backend, "vs (1000, 6096)", tokens, ms, vsPairs / (causalPairs * QueryHeads), dense, vsBuild);
        }

        clock.Restart();
        var bs = new BlockSparseIndex[KvHeads];
        Parallel.For(0, KvHeads, h => bs[h] = TopBlocks(new Random(200 + h), tokens, 100));
        var bsBuild = clock.Elapsed.TotalMilliseconds;
        var bsPairs = bs.Sum(BlockSparsePairs) * group;
        using (var index = CudaSparseIndex.BlockSparse(backend, [.. Enumerable.Range(0, QueryHeads).Select(h => bs[h / group])]))
        {
            backend.Poison(output);
            var ms = Time(backend, () => backend.SparseAttention(arguments, index), 5, warmUp: true);
            CheckFinite(backend, output, tokens);
            Report(backend, "block-sparse top-100", tokens, ms, bsPairs / (causalPairs * QueryHeads), dense, bsBuild);
        }

        backend.Poison(output);
        var aShape = Time(backend, () => backend.AShapeAttention(arguments, 1024, 4096), 5, warmUp: true);
        CheckFinite(backend, output, tokens);
        double aPairs = 0;
        for (long p = 0; p < tokens; p++)
        {
            var sinkEnd = Math.Min(1024, p + 1);
            aPairs += sinkEnd + (p + 1 - Math.Max(sinkEnd, p - 4096 + 1));
        }

        Report(backend, "a-shape (1024, 4096)", tokens, aShape, aPairs / causalPairs, dense, 0);
    }

    /// <summary>
    /// DESIGN section 6 <c>realistic</c>: verticals = the 30 sink columns plus uniform random columns up to
    /// <paramref name="verticals"/>; slashes = offsets 0..99 plus, of the rest, 80% uniform in [100, 8192)
    /// and 20% log-uniform in [1, N) (draws repeat until the counts are reached).
    /// </summary>
    internal static VerticalSlashSelection RealisticSelection(Random random, int tokens, int verticals, int slashes)
        => RealisticSparseIndex.VerticalSlash(random, tokens, verticals, slashes);

    /// <summary>Per query block: its own block, block 0 and random earlier blocks, <paramref name="blocks"/> in all where there are that many.</summary>
    private static BlockSparseIndex TopBlocks(Random random, int tokens, int blocks) => RealisticSparseIndex.BlockSparse(random, tokens, blocks);

    private static double VerticalSlashPairs(VerticalSlashBlockIndex index)
    {
        double total = 0;
        for (var b = 0; b < index.QueryBlocks; b++)
        {
            var first = index.SpanStart + (b * SparseSpan.QueryBlock);
            var last = index.SpanStart + Math.Min((b + 1) * SparseSpan.QueryBlock, index.SpanLength) - 1;
            for (var i = index.RangeOffsets[b]; i < index.RangeOffsets[b + 1]; i++)
            {
                total += RangePairs(index.RangeBounds[2 * i], index.RangeBounds[(2 * i) + 1], first, last);
            }

            total += (double)(index.ColumnOffsets[b + 1] - index.ColumnOffsets[b]) * (last - first + 1);
        }

        return total;
    }

    private static double BlockSparsePairs(BlockSparseIndex index)
    {
        double total = 0;
        for (var b = 0; b < index.QueryBlocks; b++)
        {
            var first = index.SpanStart + (b * SparseSpan.QueryBlock);
            var last = index.SpanStart + Math.Min((b + 1) * SparseSpan.QueryBlock, index.SpanLength) - 1;
            for (var i = index.BlockOffsets[b]; i < index.BlockOffsets[b + 1]; i++)
            {
                var start = index.KeyBlocks[i] * SparseSpan.KeyBlock;
                total += RangePairs(start, Math.Min(start + SparseSpan.KeyBlock, index.KeyLength), first, last);
            }
        }

        return total;
    }

    /// <summary>Sum over rows p in [first, last] of the keys of [start, end) at or before p (closed form).</summary>
    private static double RangePairs(long start, long end, long first, long last)
    {
        double total = 0;
        var fullFrom = Math.Max(first, end - 1);
        if (fullFrom <= last)
        {
            total += (double)(last - fullFrom + 1) * (end - start);
        }

        var partFrom = Math.Max(first, start);
        var partTo = Math.Min(last, end - 2);
        if (partFrom <= partTo)
        {
            // Row p sees p + 1 - start keys.
            total += ((double)(partFrom + 1 - start) + (partTo + 1 - start)) * (partTo - partFrom + 1) / 2;
        }

        return total;
    }

    private static double Time(CudaBackend backend, Action run, int repeats, bool warmUp)
    {
        using var start = new CudaEvent(backend.Context);
        using var end = new CudaEvent(backend.Context);
        if (warmUp)
        {
            run();
            backend.Synchronize();
        }

        var times = new List<double>();
        for (var i = 0; i < repeats; i++)
        {
            start.Record(backend.Stream);
            run();
            end.Record(backend.Stream);
            end.Synchronize();
            times.Add(end.ElapsedSince(start));
        }

        times.Sort();
        return times[times.Count / 2];
    }

    private static void CheckFinite(CudaBackend backend, IDeviceTensor output, int tokens)
    {
        foreach (var row in new long[] { 0, tokens / 2, tokens - 1 })
        {
            var sample = Numerics.Download(backend, output.SliceRows(row, 1));
            Assert.All(sample, value => Assert.True(float.IsFinite(value), $"row {row} not finite"));
        }
    }

    private static void Report(CudaBackend backend, string pattern, int tokens, double ms, double density, double denseMs, double indexBuildMs)
    {
        var record = new Dictionary<string, object>
        {
            ["gpu"] = backend.Name,
            ["pattern"] = pattern,
            ["index"] = "realistic",
            ["tokens"] = tokens,
            ["query_heads"] = QueryHeads,
            ["kv_heads"] = KvHeads,
            ["head_dim"] = HeadDim,
            ["median_ms"] = Math.Round(ms, 3),
            ["density"] = Math.Round(density, 5),
            ["dense_ms"] = Math.Round(denseMs, 1),
            ["speedup_vs_dense"] = Math.Round(denseMs / ms, 1),
            ["cpu_index_build_ms_8_heads"] = Math.Round(indexBuildMs, 0),
            ["date"] = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture),
        };
        var line = JsonSerializer.Serialize(record);
        TestContext.Current.SendDiagnosticMessage(line);
        var directory = Environment.GetEnvironmentVariable("MINFERENCE_BENCH_OUT");
        if (!string.IsNullOrEmpty(directory))
        {
            File.AppendAllLines(Path.Combine(directory, "attention.jsonl"), [line]);
        }
    }
}
