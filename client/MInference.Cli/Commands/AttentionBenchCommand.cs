using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using MInference.Kernels.Backends;
using MInference.Kernels.Cuda;
using MInference.Kernels.Sparse;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference bench attention</c>: one attention layer of the Llama-3-8B shape (32 query heads, 8 KV
/// heads, d 128, bf16) on the GPU, whole-prompt span, per pattern and length: milliseconds per layer with
/// index building, the index share, density, speedup against our dense kernel in the same run, and
/// optionally PyTorch SDPA (cuDNN and flash backends) run by deploy/gpu/torch_attention.py in the same run.
/// Times are CUDA events on the backend's stream (index building includes its host read-back), median of
/// repeats after one warm-up; inputs are fresh seeded random values; outputs are poisoned before and
/// checked finite after.
/// </summary>
public static class AttentionBenchCommand
{
    private const int QueryHeads = 32;
    private const int KeyValueHeads = 8;
    private const int HeadDim = 128;

    // Named float literals: with --no-dense the dense time (and the speedup it feeds) is NaN.
    private static readonly JsonSerializerOptions _jsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static Command Create()
    {
        var patterns = new Option<string[]>("--pattern")
        {
            Description = "Patterns to time: dense, vs, bs, ashape (repeat or comma-separate)",
            DefaultValueFactory = _ => ["dense", "vs", "bs", "ashape"],
            AllowMultipleArgumentsPerToken = true,
        };
        var index = new Option<string>("--index") { Description = "Index source(s), comma-separated: realistic (DESIGN section 6, fixed seed) and/or estimated (our GPU estimation on the random Q/K)", DefaultValueFactory = _ => "realistic" };
        var lengths = new Option<string>("--lengths") { Description = "Prompt lengths, e.g. 128K,256K,512K,1M", DefaultValueFactory = _ => "128K,256K,512K,1M" };
        var repeats = new Option<int>("--repeats") { Description = "Timed repeats per sparse case (median reported)", DefaultValueFactory = _ => 3 };
        var verticals = new Option<int>("--verticals") { Description = "VS vertical budget", DefaultValueFactory = _ => 1000 };
        var slashes = new Option<int>("--slashes") { Description = "VS slash budget", DefaultValueFactory = _ => 6096 };
        var topBlocks = new Option<int>("--top-blocks") { Description = "Block-sparse key blocks per query block", DefaultValueFactory = _ => 100 };
        var sink = new Option<int>("--sink") { Description = "A-shape sink keys", DefaultValueFactory = _ => 1024 };
        var window = new Option<int>("--window") { Description = "A-shape local window", DefaultValueFactory = _ => 4096 };
        var torch = new Option<bool>("--torch") { Description = "Also run PyTorch SDPA (cuDNN, flash) on the same shapes via the torch script" };
        var torchScript = new Option<FileInfo>("--torch-script") { Description = "Path of torch_attention.py", DefaultValueFactory = _ => new FileInfo(Path.Combine("deploy", "gpu", "torch_attention.py")) };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the results to this JSON file" };
        var headPairs = new Option<bool>("--head-pairs")
        {
            Description = "With the realistic index, also time VS and block-sparse with one index per pair of query heads of a KV group (the per-head draw of the pair's first head), run unpacked and by the head-pair kernel (opt-in variant)",
        };
        var noDense = new Option<bool>("--no-dense") { Description = "Skip timing our dense kernel (no speedup column; saves 29 s a run at 1M)" };
        var kernels = new Option<string>("--kernels")
        {
            Description = "Dense and A-shape kernels at d 128: auto (wgmma on compute capability 9.0, else mma.sync), wgmma or mma (mma.sync)",
            DefaultValueFactory = _ => "auto",
        };
        var command = new Command("attention", "GPU attention layer timings (dense, VS, block-sparse, A-shape) on the Llama-3-8B shape")
        {
            patterns, index, lengths, repeats, verticals, slashes, topBlocks, sink, window, torch, torchScript, json, headPairs, noDense, kernels,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            var chosen = parse.GetValue(patterns)!.SelectMany(p => p.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
            var unknown = chosen.Where(p => p is not ("dense" or "vs" or "bs" or "ashape")).ToArray();
            var source = parse.GetValue(index)!;
            var sources = source.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var kernelChoice = parse.GetValue(kernels)!;
            if (kernelChoice is not ("auto" or "wgmma" or "mma"))
            {
                AnsiConsole.MarkupLine($"[red]unknown --kernels '{Markup.Escape(kernelChoice)}': auto, wgmma or mma[/]");
                return Task.FromResult(2);
            }

            if (unknown.Length > 0 || sources.Length == 0 || sources.Any(s => s is not ("realistic" or "estimated")))
            {
                AnsiConsole.MarkupLine($"[red]unknown pattern(s) [{Markup.Escape(string.Join(", ", unknown))}] or index '{Markup.Escape(source)}': patterns are dense, vs, bs, ashape; index is realistic or estimated[/]");
                return Task.FromResult(2);
            }

            var tokens = ParseLengths(parse.GetValue(lengths)!);
            var settings = new Settings(chosen, sources, parse.GetValue(repeats), parse.GetValue(verticals), parse.GetValue(slashes), parse.GetValue(topBlocks), parse.GetValue(sink), parse.GetValue(window), parse.GetValue(headPairs), parse.GetValue(noDense));
            using var backend = CudaBackend.Create();
            backend.AttentionKernel = FlashAttentionKernel.TensorCore;
            if (kernelChoice != "auto")
            {
                backend.UseWgmma = kernelChoice == "wgmma";
            }

            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(backend.Name)}[/]: {QueryHeads} query heads, {KeyValueHeads} KV heads, d {HeadDim}, bf16, index {string.Join(", ", sources)}, dense/A-shape kernels {(backend.UseWgmma ? "wgmma" : "mma.sync")}");
            var results = new List<AttentionResult>();
            foreach (var n in tokens)
            {
                cancellationToken.ThrowIfCancellationRequested();
                results.AddRange(MeasureLength(backend, n, settings));
            }

            var torchResults = parse.GetValue(torch) ? RunTorch(parse.GetValue(torchScript)!, tokens) : [];
            Print(results, torchResults);
            if (parse.GetValue(json) is { } file)
            {
                var document = new { gpu = backend.Name, kernels = backend.UseWgmma ? "wgmma" : "mma.sync", date = DateTime.UtcNow.ToString("u", CultureInfo.InvariantCulture), settings, results, torch = torchResults };
                File.WriteAllText(file.FullName, JsonSerializer.Serialize(document, _jsonOptions));
                AnsiConsole.MarkupLine($"wrote {Markup.Escape(file.FullName)}");
            }

            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>"128K,1M,5000" -> tokens (K = 1024, M = 1024 K).</summary>
    internal static int[] ParseLengths(string text) =>
    [
        .. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(part =>
        {
            var multiplier = char.ToUpperInvariant(part[^1]) switch { 'K' => 1024L, 'M' => 1024L * 1024, _ => 1L };
            var digits = multiplier == 1 ? part : part[..^1];
            var value = long.Parse(digits, CultureInfo.InvariantCulture) * multiplier;
            return value is >= 64 and <= int.MaxValue / 2 ? (int)value : throw new ArgumentOutOfRangeException(nameof(text), part, "lengths must lie in [64, 2^30)");
        }),
    ];

    private static List<AttentionResult> MeasureLength(CudaBackend backend, int n, Settings settings)
    {
        var results = new List<AttentionResult>();
        using var query = backend.Allocate(n, QueryHeads * HeadDim);
        using var keys = backend.Allocate(n, KeyValueHeads * HeadDim);
        using var values = backend.Allocate(n, KeyValueHeads * HeadDim);
        using var output = backend.Allocate(n, QueryHeads * HeadDim);
        backend.FillRandom(query, 11 + (ulong)n);
        backend.FillRandom(keys, 12 + (ulong)n);
        backend.FillRandom(values, 13 + (ulong)n);
        var arguments = new AttentionArguments(query, keys, values, output, 0, QueryHeads, KeyValueHeads, HeadDim);
        var causal = (double)n * (n + 1L) / 2 * QueryHeads;
        var heads = Enumerable.Range(0, QueryHeads).ToArray();

        // Dense always runs: it is the baseline of every speedup (one repeat past 256K: 7 s at 512K, 29 s at 1M).
        var denseRepeats = n <= 256 * 1024 ? settings.Repeats : 1;
        var dense = double.NaN;
        if (!settings.NoDense)
        {
            (dense, _) = Time(backend, output, () => backend.Attention(arguments), null, denseRepeats, warmUp: n <= 256 * 1024);
        }

        if (settings.Patterns.Contains("dense") && !settings.NoDense)
        {
            results.Add(new AttentionResult("dense", n, "-", dense, 0, 1.0, dense, 4.0 * HeadDim * causal / (dense * 1e9)));
        }

        foreach (var source in settings.Indexes)
        {
            results.AddRange(MeasureDynamic(backend, arguments, output, n, settings, source, dense));
        }

        if (settings.Patterns.Contains("ashape"))
        {
            var (total, _) = Time(backend, output, () => backend.AShapeAttention(arguments, settings.Sink, settings.Window), null, settings.Repeats, warmUp: true);
            double pairs = 0;
            for (long p = 0; p < n; p++)
            {
                var sinkEnd = Math.Min(settings.Sink, p + 1);
                pairs += sinkEnd + (p + 1 - Math.Max(sinkEnd, p - settings.Window + 1));
            }

            pairs *= QueryHeads;
            results.Add(new AttentionResult($"ashape ({settings.Sink}, {settings.Window})", n, "static", total, 0, pairs / causal, dense, 4.0 * HeadDim * pairs / (total * 1e9)));
        }

        AnsiConsole.MarkupLine($"{n} tokens done (sparse workspace {backend.SparseWorkspaceBytes / (1 << 20)} MiB)");
        return results;
    }

    /// <summary>VS and block-sparse with one index source: index building (timed) then the kernel.</summary>
    private static List<AttentionResult> MeasureDynamic(CudaBackend backend, AttentionArguments arguments, IDeviceTensor output, int n, Settings settings, string source, double dense)
    {
        var results = new List<AttentionResult>();
        var causal = (double)n * (n + 1L) / 2 * QueryHeads;
        var heads = Enumerable.Range(0, QueryHeads).ToArray();
        if (settings.Patterns.Contains("vs"))
        {
            var budgets = heads.Select(_ => (settings.Verticals, settings.Slashes)).ToArray();
            VerticalSlashSelection[]? selections = null;
            if (source == "realistic")
            {
                selections = new VerticalSlashSelection[QueryHeads];
                Parallel.For(0, QueryHeads, h => selections[h] = RealisticSparseIndex.VerticalSlash(new Random(100 + h), n, settings.Verticals, settings.Slashes));
            }

            CudaSparseIndex? index = null;
            var (total, indexMs) = Time(
                backend,
                output,
                () => backend.SparseAttention(arguments, index!),
                () => index = selections is null ? backend.EstimateVerticalSlashIndex(arguments, heads, budgets) : backend.BuildVerticalSlashIndex(selections, heads),
                settings.Repeats,
                warmUp: true);
            var pairs = backend.CoveredPairs(index!).Sum();
            results.Add(new AttentionResult($"vs ({settings.Verticals}, {settings.Slashes})", n, source, total, indexMs, pairs / causal, dense, 4.0 * HeadDim * pairs / ((total - indexMs) * 1e9)));
        }

        if (settings.Patterns.Contains("bs"))
        {
            BlockSparseIndex[]? cpu = null;
            if (source == "realistic")
            {
                cpu = new BlockSparseIndex[QueryHeads];
                Parallel.For(0, QueryHeads, h => cpu[h] = RealisticSparseIndex.BlockSparse(new Random(200 + h), n, settings.TopBlocks));
            }

            // The realistic block-sparse index is already in the kernel's final form (no GPU work would make
            // it), so it is uploaded once before timing: timing its upload from pageable host memory (~200 ms
            // at 1M) measured the bench, not the engine. The estimated rows time the GPU index building.
            var tops = heads.Select(_ => settings.TopBlocks).ToArray();
            var index = cpu is null ? null : CudaSparseIndex.BlockSparse(backend, cpu);
            var (total, indexMs) = Time(
                backend,
                output,
                () => backend.SparseAttention(arguments, index!),
                cpu is null ? () => index = backend.EstimateBlockSparseIndex(arguments, heads, tops) : null,
                settings.Repeats,
                warmUp: true);
            var pairs = backend.CoveredPairs(index!).Sum();
            backend.Synchronize();
            index?.Dispose();
            results.Add(new AttentionResult($"bs top-{settings.TopBlocks}", n, source, total, indexMs, pairs / causal, dense, 4.0 * HeadDim * pairs / ((total - indexMs) * 1e9)));
        }

        if (settings.HeadPairs && source == "realistic")
        {
            results.AddRange(MeasureHeadPairs(backend, arguments, output, n, settings, dense));
        }

        return results;
    }

    /// <summary>
    /// The head-pair variant: query heads 2i and 2i + 1 (one KV group) share the realistic draw of head 2i,
    /// timed with the per-head kernel given that index on both heads ("pairs unpacked": what sharing alone
    /// gains through L2) and with the head-pair kernel (both heads in one block). Indices are built (VS, on
    /// the GPU) or uploaded (block-sparse) before timing: these rows time the kernels only.
    /// </summary>
    private static List<AttentionResult> MeasureHeadPairs(CudaBackend backend, AttentionArguments arguments, IDeviceTensor output, int n, Settings settings, double dense)
    {
        var results = new List<AttentionResult>();
        var causal = (double)n * (n + 1L) / 2 * QueryHeads;
        var heads = Enumerable.Range(0, QueryHeads).ToArray();
        var firstHeads = heads.Where(h => h % 2 == 0).ToArray();
        double TimeUnpacked(CudaSparseIndex perHead) => Time(backend, output, () => backend.SparseAttention(arguments, perHead), null, settings.Repeats, warmUp: true).Total;
        void Add(string pattern, double unpackedMs, CudaSparseIndex pairs)
        {
            var pairsMs = Time(backend, output, () => backend.SparseAttentionHeadPairs(arguments, pairs, firstHeads), null, settings.Repeats, warmUp: true).Total;
            var covered = 2.0 * backend.CoveredPairs(pairs).Sum();
            results.Add(new AttentionResult(pattern, n, "realistic, pairs unpacked", unpackedMs, 0, covered / causal, dense, 4.0 * HeadDim * covered / (unpackedMs * 1e9)));
            results.Add(new AttentionResult(pattern, n, "realistic, head-pair kernel", pairsMs, 0, covered / causal, dense, 4.0 * HeadDim * covered / (pairsMs * 1e9)));
        }

        if (settings.Patterns.Contains("vs"))
        {
            var selections = new VerticalSlashSelection[firstHeads.Length];
            Parallel.For(0, firstHeads.Length, p => selections[p] = RealisticSparseIndex.VerticalSlash(new Random(100 + firstHeads[p]), n, settings.Verticals, settings.Slashes));

            // A GPU-built index is a view of the backend's workspace that the next build replaces: the
            // per-head form (each pair's selection on both heads) is timed before the pairs' own is built.
            var unpackedMs = TimeUnpacked(backend.BuildVerticalSlashIndex([.. heads.Select(h => selections[h / 2])], heads));
            Add($"vs ({settings.Verticals}, {settings.Slashes})", unpackedMs, backend.BuildVerticalSlashIndex(selections, firstHeads));
        }

        if (settings.Patterns.Contains("bs"))
        {
            var cpu = new BlockSparseIndex[firstHeads.Length];
            Parallel.For(0, firstHeads.Length, p => cpu[p] = RealisticSparseIndex.BlockSparse(new Random(200 + firstHeads[p]), n, settings.TopBlocks));
            using var pairs = CudaSparseIndex.BlockSparse(backend, cpu);
            using var perHead = CudaSparseIndex.BlockSparse(backend, [.. heads.Select(h => cpu[h / 2])]);
            Add($"bs top-{settings.TopBlocks}", TimeUnpacked(perHead), pairs);
            backend.Synchronize();
        }

        return results;
    }

    /// <summary>
    /// Median (total ms, index ms) over repeats of: build (if any) then attend, between CUDA events; the
    /// output is poisoned before each repeat and its sampled rows checked finite after.
    /// </summary>
    private static (double Total, double Index) Time(CudaBackend backend, IDeviceTensor output, Action attend, Action? build, int repeats, bool warmUp)
    {
        using var start = new CudaEvent(backend.Context);
        using var built = new CudaEvent(backend.Context);
        using var end = new CudaEvent(backend.Context);
        if (warmUp)
        {
            build?.Invoke();
            attend();
            backend.Synchronize();
        }

        var totals = new List<(double Total, double Index)>();
        for (var i = 0; i < Math.Max(1, repeats); i++)
        {
            backend.Poison(output);
            start.Record(backend.Stream);
            build?.Invoke();
            built.Record(backend.Stream);
            attend();
            end.Record(backend.Stream);
            end.Synchronize();
            totals.Add((end.ElapsedSince(start), built.ElapsedSince(start)));
        }

        CheckFinite(backend, output);
        totals.Sort();
        return totals[totals.Count / 2];
    }

    private static void CheckFinite(CudaBackend backend, IDeviceTensor output)
    {
        foreach (var row in new[] { 0, output.Rows / 2, output.Rows - 1 })
        {
            using var slice = output.SliceRows(row, 1);
            var sample = new float[slice.Columns];
            backend.Download(slice, sample);
            if (sample.Any(v => !float.IsFinite(v)))
            {
                throw new InvalidOperationException($"output row {row} holds non-finite values after the timed op");
            }
        }
    }

    private static List<TorchResult> RunTorch(FileInfo script, int[] tokens)
    {
        var json = Path.Combine(Path.GetTempPath(), $"torch-attention-{Environment.ProcessId}.json");
        var start = new ProcessStartInfo("python3")
        {
            ArgumentList = { script.FullName, "--lengths", string.Join(',', tokens), "--json", json },
            RedirectStandardOutput = false,
            UseShellExecute = false,
        };
        AnsiConsole.MarkupLine($"running {Markup.Escape(script.FullName)}");
        try
        {
            using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
            process.WaitForExit();
            if (!File.Exists(json))
            {
                AnsiConsole.MarkupLine($"[red]the torch script exited with {process.ExitCode} and wrote no results[/]");
                return [];
            }

            return JsonSerializer.Deserialize<List<TorchResult>>(File.ReadAllText(json), _jsonOptions) ?? [];
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or JsonException or IOException)
        {
            AnsiConsole.MarkupLine($"[red]torch comparison failed: {Markup.Escape(e.Message)}[/]");
            return [];
        }
    }

    private static void Print(List<AttentionResult> results, List<TorchResult> torch)
    {
        var table = new Table().AddColumns("pattern", "tokens", "index", "ms / layer", "index ms", "index share", "density", "vs our dense", "eff. TFLOP/s", "torch cuDNN", "torch flash");
        foreach (var r in results)
        {
            string Torch(string backendName)
            {
                var t = torch.FirstOrDefault(x => x.Backend == backendName && x.Tokens == r.Tokens);
                return t is null ? "-" : t.MedianMs is { } ms ? $"{ms:F1} ms ({ms / r.TotalMs:F1}x)" : $"failed: {t.Error?.Split('\n')[0]}";
            }

            table.AddRow(
                Markup.Escape(r.Pattern), $"{r.Tokens / 1024}K", r.Index, $"{r.TotalMs:F1}", $"{r.IndexMs:F1}", $"{r.IndexMs / r.TotalMs:P1}", $"{r.Density:P2}",
                double.IsNaN(r.DenseMs) ? "-" : $"{r.DenseMs / r.TotalMs:F1}x", $"{r.EffectiveTflops:F0}", Markup.Escape(Torch("cudnn")), Markup.Escape(Torch("flash")));
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("torch columns: their median ms and (their time / ours) for the same row; eff. TFLOP/s = 4 d x computed pairs / attention time (without index building)");
    }

    private sealed record Settings(string[] Patterns, string[] Indexes, int Repeats, int Verticals, int Slashes, int TopBlocks, int Sink, int Window, bool HeadPairs, bool NoDense);

    private sealed record AttentionResult(string Pattern, int Tokens, string Index, double TotalMs, double IndexMs, double Density, double DenseMs, double EffectiveTflops);

    private sealed record TorchResult(string Backend, int Tokens, double? MedianMs, string? Error);
}
