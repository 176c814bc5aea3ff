using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using MInference.Engine;
using MInference.Kernels.Backends;
using MInference.Kernels.Cuda;
using MInference.Kernels.Cuda.Interop;
using MInference.Shared.Generation;
using MInference.Shared.Models;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference bench prefill</c>: whole-model pre-fill on one GPU, layer-major (the whole prompt is one
/// span; each layer is its own stage whose K/V cache lives only while that layer runs), MLP
/// token-chunked. Reports seconds, tokens/s, peak GPU memory, and the GPU time of GEMMs, attention and
/// the rest (CUDA events around every op, <see cref="TimedCudaBackend"/>), beside cuBLAS's own rate at
/// the same GEMM shapes measured in the same run.
/// </summary>
public static class PrefillBenchCommand
{
    public const ulong DefaultSeed = 20261123;

    /// <summary>Tokens of the untimed warm-up pre-fill (loads kernels, picks cuBLAS algorithms).</summary>
    public const int WarmUpTokens = 2048;

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
        var pattern = new Option<string>("--pattern") { Description = "Attention pattern: dense (the only one this bench runs for now)", DefaultValueFactory = _ => "dense" };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the results to this JSON file" };
        var mlpChunk = new Option<int>("--mlp-chunk") { Description = "Tokens per MLP chunk", DefaultValueFactory = _ => ModelShardOptions.DefaultMlpChunkTokens };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the generated weights and of the prompt's token ids", DefaultValueFactory = _ => DefaultSeed };
        var ordinal = new Option<int>("--gpu") { Description = "CUDA device ordinal", DefaultValueFactory = _ => 0 };
        var command = new Command("prefill", "Whole-model dense pre-fill on one GPU, layer-major: seconds, tokens/s, peak memory, GEMM/attention/other split vs raw cuBLAS")
        {
            model, generate, lengths, pattern, json, mlpChunk, seed, ordinal,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(CommandErrors.Run(() => Run(
            parse.GetValue(model),
            parse.GetValue(generate),
            ParseLengths(parse.GetValue(lengths)!),
            parse.GetValue(pattern)!,
            parse.GetValue(json),
            parse.GetValue(mlpChunk),
            parse.GetValue(seed),
            parse.GetValue(ordinal),
            cancellationToken))));
        return command;
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
        string pattern,
        FileInfo? json,
        int mlpChunkTokens,
        ulong seed,
        int ordinal,
        CancellationToken cancellationToken)
    {
        if (!string.Equals(pattern, "dense", StringComparison.OrdinalIgnoreCase))
        {
            throw new CommandUsageException($"--pattern {pattern}: this bench runs dense attention only (sparse pre-fill: bench attention on GPU, or run with a pattern config)");
        }

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

        var loadWatch = Stopwatch.StartNew();
        var options = new ModelShardOptions { MlpChunkTokens = mlpChunkTokens };
        var shards = new List<ModelShard>();
        try
        {
            for (var layer = 0; layer < spec.LayerCount; layer++)
            {
                shards.Add(ModelShard.Load(weights, new LayerRange(layer, layer + 1), timed, options, cancellationToken));
            }

            cuda.Synchronize();
            loadWatch.Stop();
            var weightBytes = cuda.Context.AllocatedBytes;
            AnsiConsole.MarkupLine(
                $"[bold]{Markup.Escape(spec.Architecture)}[/] {spec.LayerCount} layers, hidden {spec.HiddenSize}, heads {spec.QueryHeadCount}/{spec.KeyValueHeadCount} x {spec.HeadDim}, from {Markup.Escape(source)}");
            AnsiConsole.MarkupLine(
                $"weights: {weightBytes / GiB:F2} GiB on {Markup.Escape(cuda.Name)} in {loadWatch.Elapsed.TotalSeconds:F1} s ({(weights is InMemoryGeneratedWeights ? "generated + uploaded" : "read + uploaded")})");

            var random = new Random((int)(seed & 0x7FFF_FFFF));
            RunOnce(shards, RandomTokens(random, Math.Min(WarmUpTokens, lengths.Min()), spec.VocabSize), cancellationToken);

            var results = new List<PrefillResult>();
            foreach (var n in lengths)
            {
                cancellationToken.ThrowIfCancellationRequested();
                results.Add(Measure(shards, cuda, timed, RandomTokens(random, n, spec.VocabSize), spec, cancellationToken));
                AnsiConsole.MarkupLine($"pre-filled {n} tokens in {results[^1].Seconds:F2} s");
            }

            // The raw cuBLAS rate at every GEMM shape the pre-fills ran, measured now, in the same process.
            var shapes = results.SelectMany(r => r.Gemms.Select(g => g.Shape)).Distinct().ToList();
            var raw = shapes.ToDictionary(s => s, s => RawGemmMilliseconds(cuda, s));
            foreach (var result in results)
            {
                result.RawGemmMilliseconds = result.Gemms.Sum(g => g.Count * raw[g.Shape]);
            }

            Print(results, raw, cuda.Name);
            if (json is not null)
            {
                var report = new
                {
                    gpu = cuda.Name,
                    date = DateTimeOffset.UtcNow,
                    command = "minference " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                    model = source,
                    spec = new { spec.Architecture, spec.LayerCount, spec.HiddenSize, spec.IntermediateSize, spec.QueryHeadCount, spec.KeyValueHeadCount, spec.HeadDim, spec.VocabSize },
                    mode = "layer-major, one span per prompt, K/V of one layer live at a time, dense attention",
                    mlp_chunk_tokens = mlpChunkTokens,
                    weights_gib = weightBytes / GiB,
                    weights_load_seconds = loadWatch.Elapsed.TotalSeconds,
                    results,
                    raw_gemm = raw.Select(r => new { shape = r.Key.ToString(), m = r.Key.M, n = r.Key.N, k = r.Key.K, median_ms = r.Value, tflops = r.Key.Flops / (r.Value * 1e-3) / 1e12 }),
                };
                File.WriteAllText(json.FullName, JsonSerializer.Serialize(report, _jsonOptions));
                AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(json.FullName)}[/]");
            }

            return results.All(r => r.LogitsFinite) ? 0 : CommandErrors.BadInput;
        }
        finally
        {
            foreach (var shard in shards)
            {
                shard.Dispose();
            }
        }
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

    /// <summary>
    /// One layer-major pre-fill: the embedding and layer 0 on the first stage, then each further layer
    /// as its own stage on the same hidden states; each stage's one-layer K/V cache is freed as soon as
    /// the layer is done. Returns the last position's logits.
    /// </summary>
    private static float[] RunOnce(List<ModelShard> shards, int[] tokens, CancellationToken cancellationToken)
    {
        IDeviceTensor? hidden = null;
        SpanResult? result = null;
        try
        {
            for (var s = 0; s < shards.Count; s++)
            {
                using var sequence = shards[s].CreateSequence(tokens.Length);
                result = s == 0
                    ? shards[s].RunSpan(sequence, tokens, cancellationToken)
                    : shards[s].RunSpan(sequence, hidden!, cancellationToken);
                hidden = result.HiddenStates;
            }

            return result!.Logits!;
        }
        finally
        {
            // The stages update one hidden-state tensor in place; it is freed once.
            hidden?.Dispose();
        }
    }

    private static PrefillResult Measure(List<ModelShard> shards, CudaBackend cuda, TimedCudaBackend timed, int[] tokens, ModelSpec spec, CancellationToken cancellationToken)
    {
        cuda.Synchronize();
        cuda.Context.ResetPeak();
        var allocatedBefore = cuda.Context.AllocatedBytes;
        timed.Reset();
        using var start = new CudaEvent(cuda.Context);
        using var end = new CudaEvent(cuda.Context);
        var watch = Stopwatch.StartNew();
        start.Record(cuda.Stream);
        var logits = RunOnce(shards, tokens, cancellationToken);
        end.Record(cuda.Stream);
        end.Synchronize();
        watch.Stop();
        var gpuMs = end.ElapsedSince(start);
        var times = timed.Collect();
        var (free, total) = cuda.Context.MemoryInfo();

        // Our own allocations peak, plus what the driver holds beyond them (context, cuBLAS workspace).
        var overhead = total - free - cuda.Context.AllocatedBytes;
        long n = tokens.Length;
        var attentionFlops = spec.LayerCount * 4.0 * spec.HeadDim * spec.QueryHeadCount * n * (n + 1) / 2;
        var gemmFlops = times.Gemms.Sum(g => g.Count * g.Shape.Flops);
        return new PrefillResult
        {
            Tokens = tokens.Length,
            Seconds = watch.Elapsed.TotalSeconds,
            GpuSeconds = gpuMs / 1000,
            TokensPerSecond = n / watch.Elapsed.TotalSeconds,
            PeakAllocatedGib = cuda.Context.PeakAllocatedBytes / GiB,
            PeakDeviceGibEstimate = (cuda.Context.PeakAllocatedBytes + overhead) / GiB,
            WeightsGib = allocatedBefore / GiB,
            GemmMilliseconds = times.GemmMilliseconds,
            AttentionMilliseconds = times.AttentionMilliseconds,
            OtherMilliseconds = times.OtherMilliseconds,
            Ops = times.Ops,
            GemmTflops = gemmFlops / (times.GemmMilliseconds * 1e-3) / 1e12,
            AttentionTflops = attentionFlops / (times.AttentionMilliseconds * 1e-3) / 1e12,
            Gemms = times.Gemms,
            LogitsFinite = logits.All(float.IsFinite),
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

    private static void Print(List<PrefillResult> results, Dictionary<GemmShape, double> raw, string gpu)
    {
        var table = new Table().AddColumns(
            "tokens", "seconds", "tokens/s", "peak GiB", "GEMM s (%)", "attention s (%)", "other s (%)", "parts / end-to-end", "GEMM TFLOP/s", "vs cuBLAS", "attention TFLOP/s");
        foreach (var r in results)
        {
            var parts = r.GemmMilliseconds + r.AttentionMilliseconds + r.OtherMilliseconds;
            table.AddRow(
                I($"{r.Tokens}"),
                I($"{r.Seconds:F2}"),
                I($"{r.TokensPerSecond:F0}"),
                I($"{r.PeakDeviceGibEstimate:F1}"),
                I($"{r.GemmMilliseconds / 1000:F2} ({100 * r.GemmMilliseconds / parts:F0}%)"),
                I($"{r.AttentionMilliseconds / 1000:F2} ({100 * r.AttentionMilliseconds / parts:F0}%)"),
                I($"{r.OtherMilliseconds / 1000:F2} ({100 * r.OtherMilliseconds / parts:F0}%)"),
                I($"{100 * parts / (r.GpuSeconds * 1000):F1}%"),
                I($"{r.GemmTflops:F0}"),
                I($"{100 * r.RawGemmMilliseconds / r.GemmMilliseconds:F1}%"),
                I($"{r.AttentionTflops:F0}"));
        }

        AnsiConsole.MarkupLine($"[bold]Pre-fill, layer-major, dense[/] on {Markup.Escape(gpu)} (vs cuBLAS: the same GEMMs at cuBLAS's standalone median time / their time in the pre-fill)");
        AnsiConsole.Write(table);
        var gemmTable = new Table().AddColumns("GEMM M x N x K", "raw median ms", "raw TFLOP/s");
        foreach (var (shape, ms) in raw.OrderByDescending(r => r.Key.Flops))
        {
            gemmTable.AddRow(shape.ToString(), I($"{ms:F3}"), I($"{shape.Flops / (ms * 1e-3) / 1e12:F0}"));
        }

        AnsiConsole.Write(gemmTable);
    }

    private static string I(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>One length's measurement (JSON in snake_case).</summary>
    private sealed class PrefillResult
    {
        public int Tokens { get; init; }

        /// <summary>Host wall-clock of the whole pre-fill (what a user waits).</summary>
        public double Seconds { get; init; }

        /// <summary>CUDA events around the whole pre-fill.</summary>
        public double GpuSeconds { get; init; }

        public double TokensPerSecond { get; init; }

        public double PeakAllocatedGib { get; init; }

        public double PeakDeviceGibEstimate { get; init; }

        public double WeightsGib { get; init; }

        public double GemmMilliseconds { get; init; }

        public double AttentionMilliseconds { get; init; }

        public double OtherMilliseconds { get; init; }

        public int Ops { get; init; }

        public double GemmTflops { get; init; }

        public double AttentionTflops { get; init; }

        /// <summary>The same GEMMs at cuBLAS's standalone median times.</summary>
        public double RawGemmMilliseconds { get; set; }

        public IReadOnlyList<GemmTiming> Gemms { get; init; } = [];

        public bool LogitsFinite { get; init; }
    }
}
