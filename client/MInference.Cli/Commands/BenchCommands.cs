using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using MInference.Engine;
using MInference.Kernels.Cpu;
using MInference.Shared.Generation;
using MInference.Shared.Models;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary><c>minference bench ...</c>: benchmarks that print tables and write JSON (never timed tests).</summary>
public static class BenchCommands
{
    /// <summary>GEMM shapes (tokens, outputs, depth): attention projections and MLP of a ~1B model, and a square one.</summary>
    private static readonly (int Tokens, int Outputs, int Depth)[] _gemmShapes =
    [
        (512, 2048, 2048),
        (1024, 5632, 2048),
        (1024, 2048, 5632),
        (1536, 1536, 1536),
    ];

    /// <summary>Prompt lengths of the attention benchmark.</summary>
    private static readonly int[] _attentionTokens = [1024, 4096];

    private static readonly JsonSerializerOptions _jsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks: print a table, optionally write JSON");
        bench.Subcommands.Add(CreateCpu());
        bench.Subcommands.Add(SparseBenchCommand.Create());
        bench.Subcommands.Add(AttentionBenchCommand.Create());
        bench.Subcommands.Add(PrefillBenchCommand.Create());
        bench.Subcommands.Add(ClusterBenchCommand.Create());
        return bench;
    }

    private static Command CreateCpu()
    {
        var threads = new Option<int>("--threads") { Description = "Worker threads of the CPU backend", DefaultValueFactory = _ => Environment.ProcessorCount };
        var repeats = new Option<int>("--repeats") { Description = "Timed repeats per GEMM shape (the median is reported)", DefaultValueFactory = _ => 5 };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the results to this JSON file" };
        var prefill = new Option<int[]>("--prefill-tokens")
        {
            Description = "Prompt lengths of the `small` model pre-fill",
            DefaultValueFactory = _ => [4096, 16384],
            AllowMultipleArgumentsPerToken = true,
        };
        var skipPrefill = new Option<bool>("--skip-prefill") { Description = "Measure only the GEMM" };
        var chunk = new Option<int>("--chunk") { Description = "Tokens per pre-fill span", DefaultValueFactory = _ => RunCommand.DefaultChunkTokens };
        var cache = new Option<DirectoryInfo>("--cache") { Description = "Where generated models are kept", DefaultValueFactory = _ => new DirectoryInfo(RunCommand.DefaultCacheDirectory()) };
        var command = new Command("cpu", "GFLOP/s of the CPU GEMM path and tokens/s of a `small` model pre-fill") { threads, repeats, json, prefill, skipPrefill, chunk, cache };
        command.SetAction((parse, cancellationToken) =>
        {
            using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = parse.GetValue(threads) });
            var gemm = new List<GemmMeasurement>();
            var table = new Table().AddColumns("tokens", "outputs", "depth", "median ms", "GFLOP/s");
            foreach (var (tokens, outputs, depth) in _gemmShapes)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var measurement = CpuGemmBenchmark.Measure(backend, tokens, outputs, depth, parse.GetValue(repeats));
                gemm.Add(measurement);
                table.AddRow(
                    $"{tokens}",
                    $"{outputs}",
                    $"{depth}",
                    $"{measurement.MedianSeconds * 1000:F1}",
                    $"{measurement.GigaflopsPerSecond:F1}");
            }

            AnsiConsole.MarkupLine($"[bold]CPU GEMM[/] ({Markup.Escape(backend.Name)}, f32, out = in · Wᵀ)");
            AnsiConsole.Write(table);

            var attention = new List<AttentionMeasurement>();
            var attentionTable = new Table().AddColumns("tokens", "heads", "head_dim", "median ms", "GFLOP/s");
            foreach (var tokens in _attentionTokens)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var measurement = CpuAttentionBenchmark.Measure(backend, tokens, 12, 4, 64, parse.GetValue(repeats));
                attention.Add(measurement);
                attentionTable.AddRow($"{tokens}", "12/4", "64", $"{measurement.MedianSeconds * 1000:F1}", $"{measurement.GigaflopsPerSecond:F1}");
            }

            AnsiConsole.MarkupLine("[bold]CPU dense causal attention[/] (f32, GQA, the `small` model's heads; FLOPs of the causal half)");
            AnsiConsole.Write(attentionTable);

            var prefillResults = MeasurePrefill(backend, parse.GetValue(skipPrefill) ? [] : parse.GetValue(prefill) ?? [], parse.GetValue(chunk), parse.GetValue(cache)!.FullName, cancellationToken);
            var file = parse.GetValue(json);
            if (file is not null)
            {
                var report = new { backend = backend.Name, date = DateTimeOffset.UtcNow, gemm, attention, prefill = prefillResults };
                File.WriteAllText(file.FullName, JsonSerializer.Serialize(report, _jsonOptions));
                AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(file.FullName)}[/]");
            }

            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>Pre-fills a generated document of each length into a fresh sequence of the `small` model; one run each (they take seconds to minutes).</summary>
    private static List<PrefillMeasurement> MeasurePrefill(CpuBackend backend, int[] lengths, int chunkTokens, string cacheDirectory, CancellationToken cancellationToken)
    {
        var results = new List<PrefillMeasurement>();
        if (lengths.Length == 0)
        {
            return results;
        }

        var directory = RunCommand.EnsureGeneratedModel(cacheDirectory, ModelShapes.Small, RunCommand.DefaultModelSeed, cancellationToken);
        var tokenizer = RunCommand.OpenTokenizer(directory);
        using var weights = SafetensorsModelWeights.Open(directory);
        using var shard = ModelShard.Load(weights, new LayerRange(0, weights.Spec.LayerCount), backend, cancellationToken: cancellationToken);
        var runner = new ModelRunner([shard]);

        // Warm-up: packs the weights and JITs the kernels outside the timed runs.
        var warmUp = runner.CreateSequence(chunkTokens);
        runner.Prefill(warmUp, RunCommand.BuildDocument(tokenizer, Math.Min(chunkTokens, 256)), chunkTokens, cancellationToken: cancellationToken);
        DisposeAll(warmUp);

        var table = new Table().AddColumns("tokens", "chunk", "seconds", "tokens/s");
        foreach (var length in lengths)
        {
            var document = RunCommand.BuildDocument(tokenizer, length);
            var sequence = runner.CreateSequence(length);
            var watch = Stopwatch.StartNew();
            runner.Prefill(sequence, document, chunkTokens, cancellationToken: cancellationToken);
            watch.Stop();
            DisposeAll(sequence);
            var measurement = new PrefillMeasurement(ModelShapes.Small, length, chunkTokens, watch.Elapsed.TotalSeconds);
            results.Add(measurement);
            table.AddRow($"{length}", $"{chunkTokens}", $"{measurement.Seconds:F2}", $"{measurement.TokensPerSecond:F0}");
        }

        var spec = weights.Spec;
        AnsiConsole.MarkupLine($"[bold]`small` model pre-fill[/] ({spec.LayerCount} layers, hidden {spec.HiddenSize}, heads {spec.QueryHeadCount}/{spec.KeyValueHeadCount} x {spec.HeadDim}, dense attention, {Markup.Escape(backend.Name)})");
        AnsiConsole.Write(table);
        return results;
    }

    private static void DisposeAll(IReadOnlyList<SequenceKvCache> sequence)
    {
        foreach (var cache in sequence)
        {
            cache.Dispose();
        }
    }

    /// <summary>One pre-fill run: a model shape, a prompt length, the span size and the wall time.</summary>
    private sealed record PrefillMeasurement(string Shape, int Tokens, int ChunkTokens, double Seconds)
    {
        public double TokensPerSecond => Tokens / Seconds;
    }
}
