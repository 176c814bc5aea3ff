using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using MInference.Engine;
using MInference.Engine.LayerMajor;
using MInference.Kernels.Cuda;
using MInference.Kernels.Cuda.Interop;
using MInference.Shared.Contracts;
using MInference.Shared.Generation;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference bench prefill</c>: whole-model pre-fill on one GPU, layer-major (the whole prompt is one
/// span; each layer is its own stage whose K/V cache lives only while that layer runs, see
/// <see cref="LayerMajorPrefill"/>), norms, projections and MLP token-chunked. Dense, or sparse with a
/// pattern config (default VS (1000, 6096) on every head) and the <c>estimated</c> or DESIGN's
/// <c>realistic</c> Vertical-Slash index. Reports seconds, tokens/s, peak GPU memory against the expected
/// peak, the GPU time of GEMMs, attention, index building and the rest (CUDA events around every op,
/// <see cref="TimedCudaBackend"/>), the attention density per layer, and cuBLAS's own rate at the same
/// GEMM shapes measured in the same run.
/// </summary>
public static class PrefillBenchCommand
{
    public const ulong DefaultSeed = 20261123;

    /// <summary>Tokens of the untimed warm-up pre-fill (loads kernels, picks cuBLAS algorithms).</summary>
    public const int WarmUpTokens = 2048;

    /// <summary>Tokens of the sparse warm-up: above the default VS budget (6096 slashes), so the sparse kernels load and run.</summary>
    public const int SparseWarmUpTokens = 8192;

    /// <summary>Prompts from this length on print each layer as it finishes.</summary>
    public const int ProgressTokens = 1 << 19;

    /// <summary>Timed repeats of each raw cuBLAS shape (the median is kept).</summary>
    public const int GemmRepeats = 5;

    private const double GiB = 1024.0 * 1024 * 1024;

    private static readonly JsonSerializerOptions _jsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static Command Create()
    {
        var model = new Option<DirectoryInfo?>("--model") { Description = "A Hugging Face model directory (safetensors) to pre-fill" };
        var generate = new Option<string?>("--generate")
        {
            Description = $"Instead of --model: a generated shape ({string.Join(", ", ModelShapes.Names)}), its weights computed in memory (the generator's exact bits, no files)",
        };
        var lengths = new Option<string>("--lengths") { Description = "Prompt lengths, comma-separated, K = 1024 (e.g. 32K,128K)", DefaultValueFactory = _ => "32K,128K" };
        var pattern = new Option<string>("--pattern") { Description = "Attention: dense, or sparse (the --config patterns; default VS (1000, 6096) on every head)", DefaultValueFactory = _ => PrefillAttentionMode.DensePattern };
        var config = new Option<FileInfo?>("--config") { Description = "Sparse only: a pattern config (our JSON) for the model; default VS (1000, 6096) on every head" };
        var index = new Option<string?>("--index")
        {
            Description = "Sparse only: Vertical-Slash index source(s), comma-separated: estimated (the GPU estimation's own), realistic (DESIGN section 6's fixed distribution, seeded per head; default)",
        };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the results to this JSON file" };
        var mlpChunk = new Option<int>("--mlp-chunk") { Description = "Tokens per MLP chunk", DefaultValueFactory = _ => ModelShardOptions.DefaultMlpChunkTokens };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the generated weights and of the prompt's token ids", DefaultValueFactory = _ => DefaultSeed };
        var ordinal = new Option<int>("--gpu") { Description = "CUDA device ordinal", DefaultValueFactory = _ => 0 };
        var command = new Command("prefill", "Whole-model pre-fill on one GPU, layer-major, dense or sparse: seconds, tokens/s, peak memory, GEMM/attention/index/other split, density per layer")
        {
            model, generate, lengths, pattern, config, index, json, mlpChunk, seed, ordinal,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(CommandErrors.Run(() => Run(
            parse.GetValue(model),
            parse.GetValue(generate),
            ParseLengths(parse.GetValue(lengths)!),
            ParseMode(parse.GetValue(pattern)!, parse.GetValue(index), parse.GetValue(config)),
            parse.GetValue(config),
            parse.GetValue(json),
            parse.GetValue(mlpChunk),
            parse.GetValue(seed),
            parse.GetValue(ordinal),
            cancellationToken))));
        return command;
    }

    /// <summary>--pattern and --index as the engine reads them; a config file only with a sparse pattern.</summary>
    internal static PrefillAttentionMode ParseMode(string pattern, string? index, FileInfo? config)
    {
        PrefillAttentionMode mode;
        try
        {
            mode = PrefillAttentionMode.Parse(pattern, index);
        }
        catch (ArgumentException e)
        {
            throw new CommandUsageException(e.Message.Split(" (Parameter", 2)[0]);
        }

        return config is not null && !mode.Sparse
            ? throw new CommandUsageException($"--config {config.Name}: a pattern config applies to --pattern {PrefillAttentionMode.SparsePattern} only")
            : mode;
    }

    /// <summary>"32K,128K" → [32768, 131072]; K means 1024 and M 1048576.</summary>
    internal static int[] ParseLengths(string text)
    {
        var result = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var multiplier = char.ToUpperInvariant(part[^1]) switch { 'K' => 1024L, 'M' => 1024L * 1024, _ => 1L };
            var digits = multiplier == 1 ? part : part[..^1];
            if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value * multiplier < 1 || value * multiplier > int.MaxValue)
            {
                throw new CommandUsageException($"--lengths: '{part}' is not a length between 1 and {int.MaxValue} (write e.g. 32K or 131072)");
            }

            result.Add((int)(value * multiplier));
        }

        return result.Count > 0 ? [.. result] : throw new CommandUsageException("--lengths is empty; give e.g. 32K,128K");
    }

    private static int Run(
        DirectoryInfo? modelDirectory,
        string? generateShape,
        int[] lengths,
        PrefillAttentionMode mode,
        FileInfo? configFile,
        FileInfo? json,
        int mlpChunkTokens,
        ulong seed,
        int ordinal,
        CancellationToken cancellationToken)
    {
        if (modelDirectory is not null && generateShape is not null)
        {
            throw new CommandUsageException("give either --model or --generate, not both");
        }

        generateShape ??= modelDirectory is null ? ModelShapes.Llama3_8B : null;
        using var loggers = LoggerFactory.Create(builder => builder.AddSimpleConsole(o => o.SingleLine = true));
        ComputeBackendChoice choice;
        try
        {
            choice = ComputeBackendFactory.Create(ComputeDevice.Cuda, loggers.CreateLogger("MInference.Backend"), ordinal);
        }
        catch (CudaException e)
        {
            Console.Error.WriteLine($"error: bench prefill needs a GPU: {e.Message}");
            return CommandErrors.BadInput;
        }

        using var cuda = (CudaBackend)choice.Backend;
        using var timed = new TimedCudaBackend(cuda);
        using IModelWeights weights = generateShape is not null
            ? new InMemoryGeneratedWeights(ModelShapes.Get(generateShape), seed)
            : SafetensorsModelWeights.Open(modelDirectory!.FullName);
        var spec = weights.Spec;
        var source = generateShape is not null ? $"generated {generateShape} (seed {seed}, in memory)" : modelDirectory!.FullName;
        var patterns = mode.Sparse
            ? PrefillAttentionMode.ConfigFor(spec, configFile is null ? null : PatternConfigJson.Load(configFile.FullName))
            : null;
        var patternText = patterns is null
            ? "dense"
            : configFile is null ? $"sparse, {HeadPattern.Default} on every head (DESIGN's default)" : $"sparse, {configFile.Name}: {Summarize(patterns)}";

        var loadWatch = Stopwatch.StartNew();
        var options = new ModelShardOptions { MlpChunkTokens = mlpChunkTokens, Patterns = patterns };
        using var prefill = LayerMajorPrefill.Load(weights, timed, options, cancellationToken);
        cuda.Synchronize();
        loadWatch.Stop();
        var weightBytes = cuda.Context.AllocatedBytes;
        AnsiConsole.MarkupLine(
            $"[bold]{Markup.Escape(spec.Architecture)}[/] {spec.LayerCount} layers, hidden {spec.HiddenSize}, heads {spec.QueryHeadCount}/{spec.KeyValueHeadCount} x {spec.HeadDim}, from {Markup.Escape(source)}");
        AnsiConsole.MarkupLine(
            $"weights: {weightBytes / GiB:F2} GiB on {Markup.Escape(cuda.Name)} in {loadWatch.Elapsed.TotalSeconds:F1} s ({(weights is InMemoryGeneratedWeights ? "generated + uploaded" : "read + uploaded")}); attention: {Markup.Escape(patternText)}");

        var random = new Random((int)(seed & 0x7FFF_FFFF));
        var runs = mode.Sparse ? mode.IndexSources.Select(s => (SparseIndexSource?)s).ToList() : [null];
        var results = new List<PrefillResult>();
        var report = new PrefillReport
        {
            Gpu = cuda.Name,
            Date = DateTimeOffset.UtcNow,
            Command = "minference " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
            Model = source,
            Spec = new { spec.Architecture, spec.LayerCount, spec.HiddenSize, spec.IntermediateSize, spec.QueryHeadCount, spec.KeyValueHeadCount, spec.HeadDim, spec.VocabSize },
            Mode = "layer-major, one span per prompt, K/V of one layer live at a time, norms/projections/MLP in chunks of rows",
            Attention = patternText,
            MlpChunkTokens = mlpChunkTokens,
            WeightsGib = weightBytes / GiB,
            WeightsLoadSeconds = loadWatch.Elapsed.TotalSeconds,
            Results = results,
        };
        foreach (var indexSource in runs)
        {
            UseIndexSource(cuda, indexSource, seed);
            var warmUp = Math.Min(patterns is null ? WarmUpTokens : SparseWarmUpTokens, lengths.Min());
            prefill.Run(RandomTokens(random, warmUp, spec.VocabSize), cancellationToken: cancellationToken);
            foreach (var n in lengths)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var expected = LayerMajorMemory.Estimate(spec, n, mlpChunkTokens, sizeof(ushort));
                AnsiConsole.MarkupLine(
                    $"{n} tokens{IndexText(indexSource)}: expected peak {(cuda.Context.AllocatedBytes + expected.TotalBytes) / GiB:F1} GiB = held {cuda.Context.AllocatedBytes / GiB:F1} (weights{(patterns is null ? string.Empty : " + sparse workspace so far")}) + per-token {expected.TotalBytes / GiB:F1} (hidden {expected.HiddenBytes / GiB:F1}, Q {expected.QueryBytes / GiB:F1}, attention out {expected.AttentionOutputBytes / GiB:F1}, one layer's K/V {expected.KeyValueBytes / GiB:F1}, chunks {expected.ChunkBytes / GiB:F2}){(patterns is null ? string.Empty : " + workspace growth")}");
                var result = Measure(prefill, cuda, timed, RandomTokens(random, n, spec.VocabSize), spec, expected, indexSource, cancellationToken);
                results.Add(result);
                AnsiConsole.MarkupLine(
                    $"pre-filled {n} tokens{IndexText(indexSource)} in {result.Seconds:F2} s; peak {result.PeakAllocatedGib:F1} GiB allocated vs {result.ExpectedPeakGib:F1} GiB expected (sparse workspace {result.SparseWorkspaceGib:F2} GiB after); mean density {result.MeanDensity:P2}");
                WriteJson(json, report);
            }
        }

        UseIndexSource(cuda, null, seed);

        // The raw cuBLAS rate at every GEMM shape the pre-fills ran, measured now, in the same process.
        var shapes = results.SelectMany(r => r.Gemms.Select(g => g.Shape)).Distinct().ToList();
        var raw = shapes.ToDictionary(s => s, s => RawGemmMilliseconds(cuda, s));
        foreach (var result in results)
        {
            result.RawGemmMilliseconds = result.Gemms.Sum(g => g.Count * raw[g.Shape]);
        }

        report.RawGemm = [.. raw.Select(r => new RawGemm(r.Key.ToString(), r.Key.M, r.Key.N, r.Key.K, r.Value, r.Key.Flops / (r.Value * 1e-3) / 1e12))];
        Print(results, raw, cuda.Name, patternText);
        WriteJson(json, report);
        return results.All(r => r.LogitsFinite) ? 0 : CommandErrors.BadInput;
    }

    /// <summary>Estimated: the backend's own index; realistic: DESIGN's fixed distribution replaces it (seeded per head).</summary>
    private static void UseIndexSource(CudaBackend cuda, SparseIndexSource? source, ulong seed)
        => cuda.VerticalSlashSelectionSource = source == SparseIndexSource.Realistic ? new RealisticVerticalSlashSource((int)(seed & 0x7FFF_FFFF)) : null;

    private static string IndexText(SparseIndexSource? source) => source is null ? string.Empty : $" ({source.Value.ToString().ToLowerInvariant()} index)";

    private static string Summarize(PatternConfig config)
        => string.Join(", ", config.Summarize().Select(p => $"{p.Pattern} x {p.Heads}"));

    private static void WriteJson(FileInfo? json, PrefillReport report)
    {
        if (json is null)
        {
            return;
        }

        // Rewritten after every length, so a run stopped by a time limit keeps what it measured.
        File.WriteAllText(json.FullName, JsonSerializer.Serialize(report, _jsonOptions));
    }

    private static int[] RandomTokens(Random random, int count, int vocab)
    {
        var tokens = new int[count];
        for (var i = 0; i < count; i++)
        {
            tokens[i] = random.Next(vocab);
        }

        return tokens;
    }

    private static PrefillResult Measure(
        LayerMajorPrefill prefill, CudaBackend cuda, TimedCudaBackend timed, int[] tokens, ModelSpec spec, LayerMajorMemory expected, SparseIndexSource? indexSource, CancellationToken cancellationToken)
    {
        cuda.Synchronize();
        cuda.Context.ResetPeak();
        var allocatedBefore = cuda.Context.AllocatedBytes;
        var workspaceBefore = cuda.SparseWorkspaceBytes;
        timed.Reset();
        using var start = new CudaEvent(cuda.Context);
        using var end = new CudaEvent(cuda.Context);
        long n = tokens.Length;
        var watch = Stopwatch.StartNew();
        start.Record(cuda.Stream);

        // Long prompts print each layer as it finishes (host clock; stages synchronise at their end).
        Action<LayerDensity>? progress = n >= ProgressTokens
            ? d => AnsiConsole.MarkupLine(I($"  layer {d.Layer} done at {watch.Elapsed.TotalSeconds:F1} s, density {d.Density:P2}"))
            : null;
        var run = prefill.Run(tokens, progress, cancellationToken);
        end.Record(cuda.Stream);
        end.Synchronize();
        watch.Stop();
        var gpuMs = end.ElapsedSince(start);
        var times = timed.Collect();
        var (free, total) = cuda.Context.MemoryInfo();

        // Our own allocations peak, plus what the driver holds beyond them (context, cuBLAS workspace).
        var overhead = total - free - cuda.Context.AllocatedBytes;
        var computedPairs = run.Densities.Sum(d => (double)d.CoveredPairs);
        var attentionFlops = 4.0 * spec.HeadDim * computedPairs;
        var gemmFlops = times.Gemms.Sum(g => g.Count * g.Shape.Flops);
        var workspace = cuda.SparseWorkspaceBytes;
        return new PrefillResult
        {
            Tokens = tokens.Length,
            IndexSource = indexSource?.ToString().ToLowerInvariant(),
            Seconds = watch.Elapsed.TotalSeconds,
            GpuSeconds = gpuMs / 1000,
            TokensPerSecond = n / watch.Elapsed.TotalSeconds,
            PeakAllocatedGib = cuda.Context.PeakAllocatedBytes / GiB,
            PeakDeviceGibEstimate = (cuda.Context.PeakAllocatedBytes + overhead) / GiB,
            ExpectedPeakGib = (allocatedBefore + expected.TotalBytes + (workspace - workspaceBefore)) / GiB,
            ExpectedActivationGib = expected.TotalBytes / GiB,
            SparseWorkspaceGib = workspace / GiB,
            WeightsGib = (allocatedBefore - workspaceBefore) / GiB,
            GemmMilliseconds = times.GemmMilliseconds,
            AttentionMilliseconds = times.AttentionMilliseconds,
            IndexMilliseconds = times.IndexMilliseconds,
            IndexCountingMilliseconds = times.IndexCountingMilliseconds,
            OtherMilliseconds = times.OtherMilliseconds,
            Ops = times.Ops,
            GemmTflops = gemmFlops / (times.GemmMilliseconds * 1e-3) / 1e12,
            AttentionTflops = attentionFlops / (times.AttentionMilliseconds * 1e-3) / 1e12,
            MeanDensity = run.MeanDensity,
            DensityMeasured = run.DensityMeasured,
            DensityPerLayer = [.. run.Densities.Select(d => d.Density)],
            Gemms = times.Gemms,
            LogitsFinite = run.Logits.All(float.IsFinite),
        };
    }

    /// <summary>Median milliseconds of one cuBLAS GEMM of <paramref name="shape"/> on random bf16 inputs (a warm-up first).</summary>
    private static double RawGemmMilliseconds(CudaBackend cuda, GemmShape shape)
    {
        using var input = cuda.Allocate(shape.M, (int)shape.K);
        using var weight = cuda.Allocate(shape.N, (int)shape.K);
        using var output = cuda.Allocate(shape.M, (int)shape.N);
        cuda.FillRandom(input, 11);
        cuda.FillRandom(weight, 12);
        using var start = new CudaEvent(cuda.Context);
        using var end = new CudaEvent(cuda.Context);
        cuda.Linear(input, weight, null, output);
        var times = new List<double>();
        for (var i = 0; i < GemmRepeats; i++)
        {
            start.Record(cuda.Stream);
            cuda.Linear(input, weight, null, output);
            end.Record(cuda.Stream);
            end.Synchronize();
            times.Add(end.ElapsedSince(start));
        }

        times.Sort();
        return times[times.Count / 2];
    }

    private static void Print(List<PrefillResult> results, Dictionary<GemmShape, double> raw, string gpu, string attention)
    {
        var table = new Table().AddColumns(
            "tokens", "index", "seconds", "tokens/s", "peak GiB (expected)", "GEMM s (%)", "attention s (%)", "index s (%)", "other s (%)", "parts / end-to-end",
            "GEMM TFLOP/s", "vs cuBLAS", "attention TFLOP/s", "density (mean of layers)");
        foreach (var r in results)
        {
            var parts = r.GemmMilliseconds + r.AttentionMilliseconds + r.IndexMilliseconds + r.OtherMilliseconds;
            table.AddRow(
                I($"{r.Tokens}"),
                r.IndexSource ?? "-",
                I($"{r.Seconds:F2}"),
                I($"{r.TokensPerSecond:F0}"),
                I($"{r.PeakDeviceGibEstimate:F1} ({r.ExpectedPeakGib:F1})"),
                I($"{r.GemmMilliseconds / 1000:F2} ({100 * r.GemmMilliseconds / parts:F0}%)"),
                I($"{r.AttentionMilliseconds / 1000:F2} ({100 * r.AttentionMilliseconds / parts:F0}%)"),
                I($"{r.IndexMilliseconds / 1000:F2} ({100 * r.IndexMilliseconds / parts:F0}%)"),
                I($"{r.OtherMilliseconds / 1000:F2} ({100 * r.OtherMilliseconds / parts:F0}%)"),
                I($"{100 * parts / (r.GpuSeconds * 1000):F1}%"),
                I($"{r.GemmTflops:F0}"),
                I($"{100 * r.RawGemmMilliseconds / r.GemmMilliseconds:F1}%"),
                I($"{r.AttentionTflops:F0}"),
                I($"{r.MeanDensity:P2}{(r.DensityMeasured ? string.Empty : " (budget bound)")}"));
        }

        AnsiConsole.MarkupLine(
            $"[bold]Pre-fill, layer-major, {Markup.Escape(attention)}[/] on {Markup.Escape(gpu)} (vs cuBLAS: the same GEMMs at cuBLAS's standalone median time / their time in the pre-fill; attention TFLOP/s on the pairs computed; peak = allocations + driver; expected = held before + per-token buffers + workspace growth)");
        AnsiConsole.Write(table);
        var gemmTable = new Table().AddColumns("GEMM M x N x K", "raw median ms", "raw TFLOP/s");
        foreach (var (shape, ms) in raw.OrderByDescending(r => r.Key.Flops))
        {
            gemmTable.AddRow(shape.ToString(), I($"{ms:F3}"), I($"{shape.Flops / (ms * 1e-3) / 1e12:F0}"));
        }

        AnsiConsole.Write(gemmTable);
    }

    private static string I(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>The JSON document: the run's setting and every measurement so far.</summary>
    private sealed class PrefillReport
    {
        public string Gpu { get; init; } = string.Empty;

        public DateTimeOffset Date { get; init; }

        public string Command { get; init; } = string.Empty;

        public string Model { get; init; } = string.Empty;

        /// <summary>The model's shape (an anonymous object: only the fields a reader needs).</summary>
        public object? Spec { get; init; }

        public string Mode { get; init; } = string.Empty;

        public string Attention { get; init; } = string.Empty;

        public int MlpChunkTokens { get; init; }

        public double WeightsGib { get; init; }

        public double WeightsLoadSeconds { get; init; }

        public IReadOnlyList<PrefillResult> Results { get; init; } = [];

        public IReadOnlyList<RawGemm> RawGemm { get; set; } = [];
    }

    private sealed record RawGemm(string Shape, long M, long N, long K, double MedianMs, double Tflops);

    /// <summary>One length's measurement (JSON in snake_case).</summary>
    private sealed class PrefillResult
    {
        public int Tokens { get; init; }

        /// <summary>Sparse runs: estimated or realistic; null for dense.</summary>
        public string? IndexSource { get; init; }

        /// <summary>Host wall-clock of the whole pre-fill (what a user waits).</summary>
        public double Seconds { get; init; }

        /// <summary>CUDA events around the whole pre-fill.</summary>
        public double GpuSeconds { get; init; }

        public double TokensPerSecond { get; init; }

        public double PeakAllocatedGib { get; init; }

        public double PeakDeviceGibEstimate { get; init; }

        /// <summary>Held before the run (weights, sparse workspace) + <see cref="ExpectedActivationGib"/> + the workspace's growth in the run.</summary>
        public double ExpectedPeakGib { get; init; }

        public double ExpectedActivationGib { get; init; }

        /// <summary>The sparse index workspace held after the run (grown to this length's needs).</summary>
        public double SparseWorkspaceGib { get; init; }

        public double WeightsGib { get; init; }

        public double GemmMilliseconds { get; init; }

        /// <summary>Attention kernels only: index building and pair counting are taken out.</summary>
        public double AttentionMilliseconds { get; init; }

        /// <summary>Sparse index building: estimation (also in realistic runs), the realistic replacement, conversion.</summary>
        public double IndexMilliseconds { get; init; }

        /// <summary>Counting each built index's pairs for the density (a measurement; inside <see cref="OtherMilliseconds"/>).</summary>
        public double IndexCountingMilliseconds { get; init; }

        public double OtherMilliseconds { get; init; }

        public int Ops { get; init; }

        public double GemmTflops { get; init; }

        /// <summary>4 · d · pairs computed / attention time.</summary>
        public double AttentionTflops { get; init; }

        public double MeanDensity { get; init; }

        public bool DensityMeasured { get; init; }

        public IReadOnlyList<double> DensityPerLayer { get; init; } = [];

        /// <summary>The same GEMMs at cuBLAS's standalone median times.</summary>
        public double RawGemmMilliseconds { get; set; }

        public IReadOnlyList<GemmTiming> Gemms { get; init; } = [];

        public bool LogitsFinite { get; init; }
    }
}
