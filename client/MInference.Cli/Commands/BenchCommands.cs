using System.CommandLine;
using System.Text.Json;
using MInference.Kernels.Cpu;
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

    private static readonly JsonSerializerOptions _jsonOptions = new() { WriteIndented = true };

    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks: print a table, optionally write JSON");
        bench.Subcommands.Add(CreateCpu());
        return bench;
    }

    private static Command CreateCpu()
    {
        var threads = new Option<int>("--threads") { Description = "Worker threads of the CPU backend", DefaultValueFactory = _ => Environment.ProcessorCount };
        var repeats = new Option<int>("--repeats") { Description = "Timed repeats per GEMM shape (the median is reported)", DefaultValueFactory = _ => 5 };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the results to this JSON file" };
        var command = new Command("cpu", "GFLOP/s of the CPU GEMM path and tokens/s of a `small` model pre-fill") { threads, repeats, json };
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
            var file = parse.GetValue(json);
            if (file is not null)
            {
                var report = new { backend = backend.Name, date = DateTimeOffset.UtcNow, gemm };
                File.WriteAllText(file.FullName, JsonSerializer.Serialize(report, _jsonOptions));
                AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(file.FullName)}[/]");
            }

            return Task.FromResult(0);
        });
        return command;
    }
}
