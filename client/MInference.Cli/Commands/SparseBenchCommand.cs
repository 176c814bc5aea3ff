using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MInference.Kernels.Sparse;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary><c>minference bench sparse-cpu</c>: each sparse pattern's CPU reference path against dense, with density (see <see cref="SparseCpuBenchmark"/>).</summary>
public static class SparseBenchCommand
{
    private static readonly JsonSerializerOptions _jsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static Command Create()
    {
        var tokens = new Option<int[]>("--tokens")
        {
            Description = "Prompt lengths",
            DefaultValueFactory = _ => [8192, 16384, 32768],
            AllowMultipleArgumentsPerToken = true,
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic planted inputs", DefaultValueFactory = _ => 1 };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the results to this JSON file" };
        var command = new Command("sparse-cpu", "Time of each sparse pattern vs dense on the CPU reference path (one head, one thread), with density")
        {
            tokens, seed, json,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            var lengths = parse.GetValue(tokens) ?? [];
            if (lengths.Any(n => n < 64))
            {
                Console.Error.WriteLine($"error: every --tokens value must be at least 64, got {string.Join(", ", lengths)}");
                return Task.FromResult(2);
            }

            var patterns = SparseCpuBenchmark.DefaultPatterns;
            SparseCpuBenchmark.WarmUp(patterns);
            var all = new List<SparseCpuMeasurement>();
            var table = new Table().AddColumns("tokens", "pattern", "ran as", "estimate ms", "attend ms", "total ms", "vs dense", "density", "rel. error");
            foreach (var n in lengths)
            {
                var rows = SparseCpuBenchmark.Measure(n, patterns, parse.GetValue(seed), cancellationToken);
                var dense = rows[0].TotalMilliseconds;
                foreach (var row in rows)
                {
                    table.AddRow(
                        n.ToString(CultureInfo.InvariantCulture), Markup.Escape(row.Pattern), row.RanAs, F(row.EstimateMilliseconds, 1), F(row.AttendMilliseconds, 1),
                        F(row.TotalMilliseconds, 1), F(dense / row.TotalMilliseconds, 2) + "x", F(100 * row.Density, 2) + "%", row.RelativeError.ToString("E2", CultureInfo.InvariantCulture));
                }

                all.AddRange(rows);
            }

            AnsiConsole.MarkupLine("[bold]Sparse attention on CPU[/] (reference kernels, one head, d 128, one thread; synthetic planted Q/K; `vs dense` against the reference dense row)");
            AnsiConsole.Write(table);
            if (parse.GetValue(json) is { } file)
            {
                File.WriteAllText(file.FullName, JsonSerializer.Serialize(new { date = DateTimeOffset.UtcNow, seed = parse.GetValue(seed), results = all }, _jsonOptions));
                AnsiConsole.MarkupLineInterpolated($"wrote [green]{file.FullName}[/]");
            }

            return Task.FromResult(0);
        });
        return command;
    }

    private static string F(double value, int digits) => value.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
