using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MInference.Engine;
using MInference.Engine.Evaluation;
using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;
using MInference.Kernels.Cuda;
using MInference.Kernels.Cuda.Interop;
using MInference.Shared.Models;
using MInference.Shared.Tokenization;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference eval</c>: retrieval accuracy of a model through the normal engine (one
/// <see cref="ModelShard"/> on the CPU or CUDA backend, <c>--device</c>), per task, length and depth, for each attention config
/// given (dense, the default config, A-shape, searched configs), with the attention density each reached
/// (measured: covered over causal pairs of the pre-fill; and nominal: <see cref="PatternDensity"/>).
/// Prints a table per (config, task), writes JSON and optional heat-map PNGs.
/// </summary>
public static class EvalCommand
{
    private static readonly JsonSerializerOptions _jsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model directory (the testbed model: tests/fixtures/models/retrieval-llama-4m)", Required = true };
        var tasks = new Option<string>("--task") { Description = "Tasks, comma-separated: niah, multi, kv, vt", DefaultValueFactory = _ => "niah" };
        var lengths = new Option<string>("--lengths") { Description = "Prompt lengths in tokens, comma-separated (2K = 2048)", DefaultValueFactory = _ => "2K,4K" };
        var depths = new Option<string>("--depths") { Description = "Depths of the asked fact in [0, 1], comma-separated", DefaultValueFactory = _ => "0,0.25,0.5,0.75,1" };
        var samples = new Option<int>("--samples") { Description = "Samples per (length, depth) cell", DefaultValueFactory = _ => 1 };
        var configs = new Option<string[]>("--config")
        {
            Description = "Attention configs, repeatable: dense, default, ashape[:INIT,LOCAL], vs:V,S, or a config JSON file",
            DefaultValueFactory = _ => ["dense"],
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the samples (cell i, sample j uses seed + 1000 i + j)", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "Worker threads of the CPU backend", DefaultValueFactory = _ => Environment.ProcessorCount };
        var device = new Option<ComputeDevice>("--device")
        {
            Description = "auto (CUDA when a GPU and the kernels' fatbin are present, else CPU), cpu or cuda",
            DefaultValueFactory = _ => ComputeDevice.Auto,
        };
        var json = new Option<FileInfo?>("--json") { Description = "Write the results to this JSON file" };
        var heatmap = new Option<FileInfo?>("--heatmap") { Description = "Heat-map PNG (depth x length) per config and task: NAME.png becomes NAME-<config>-<task>.png" };
        var command = new Command("eval", "Retrieval accuracy (NIAH, multi-key NIAH, KV retrieval, variable tracking) per length and depth, dense vs sparse configs")
        {
            model, tasks, lengths, depths, samples, configs, seed, threads, device, json, heatmap,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(CommandErrors.Run(() => Run(
            new Request(
                parse.GetValue(model)!,
                ParseList(parse.GetValue(tasks)!, "--task", ParseTask),
                ParseList(parse.GetValue(lengths)!, "--lengths", ParseLength),
                ParseList(parse.GetValue(depths)!, "--depths", ParseDepth),
                parse.GetValue(samples),
                parse.GetValue(configs) ?? ["dense"],
                parse.GetValue(seed),
                parse.GetValue(threads),
                parse.GetValue(device),
                parse.GetValue(json),
                parse.GetValue(heatmap)),
            cancellationToken))));
        return command;
    }

    private static int Run(Request request, CancellationToken cancellationToken)
    {
        if (request.Samples < 1 || request.Threads < 1)
        {
            throw new CommandUsageException($"--samples ({request.Samples}) and --threads ({request.Threads}) must be at least 1");
        }

        using var weights = SafetensorsModelWeights.Open(request.Model.FullName);
        var spec = weights.Spec;
        var tokenizer = TokenizerLoader.Load(request.Model.FullName);
        var configs = request.Configs.Select(c => EvaluationConfig.Parse(c, spec.LayerCount, spec.QueryHeadCount)).ToArray();
        IComputeBackend opened;
        try
        {
            opened = ComputeBackendFactory.Create(request.Device, cpuOptions: new CpuBackendOptions { MaxDegreeOfParallelism = request.Threads }).Backend;
        }
        catch (CudaException e)
        {
            Console.Error.WriteLine($"error: --device {request.Device.ToString().ToLowerInvariant()}: {e.Message}");
            return CommandErrors.BadInput;
        }

        using var device = opened;
        using var backend = new DensityMeasuringBackend(device);
        AnsiConsole.MarkupLineInterpolated($"model {request.Model.Name}: {spec.LayerCount} layers, hidden {spec.HiddenSize}, heads {spec.QueryHeadCount}/{spec.KeyValueHeadCount} x {spec.HeadDim}; {backend.Name}; {request.Samples} sample(s) per cell");

        var cells = new List<CellResult>();
        foreach (var config in configs)
        {
            using var shard = ModelShard.Load(weights, new LayerRange(0, spec.LayerCount), backend, new ModelShardOptions { Patterns = config.Patterns }, cancellationToken);
            var evaluator = new RetrievalEvaluator(new ModelRunner([shard]), tokenizer, backend);
            foreach (var task in request.Tasks)
            {
                var grid = new double[request.Depths.Length, request.Lengths.Length];
                for (var l = 0; l < request.Lengths.Length; l++)
                {
                    for (var d = 0; d < request.Depths.Length; d++)
                    {
                        var cell = (l * request.Depths.Length) + d;
                        var correct = 0;
                        var watch = Stopwatch.StartNew();
                        var generated = new List<string>();
                        var expected = new List<string>();
                        double densitySum = 0;
                        for (var s = 0; s < request.Samples; s++)
                        {
                            var sample = RetrievalTaskGenerator.Create(task, request.Lengths[l], request.Depths[d], request.Seed + (1000 * cell) + s);
                            var outcome = evaluator.Run(sample, cancellationToken);
                            correct += outcome.Correct ? 1 : 0;
                            generated.Add(outcome.Generated);
                            expected.Add(sample.Answer);
                            densitySum += outcome.Density ?? 1;
                        }

                        var density = densitySum / request.Samples;
                        var nominal = PatternDensity.Of(config.Patterns, request.Lengths[l]);
                        cells.Add(new CellResult(config.Name, Name(task), request.Lengths[l], request.Depths[d], correct, request.Samples, density, nominal, watch.Elapsed.TotalSeconds, expected, generated));
                        grid[d, l] = (double)correct / request.Samples;
                        AnsiConsole.MarkupLineInterpolated(
                            $"{config.Name} {Name(task)} {request.Lengths[l]} depth {request.Depths[d]:0.##}: {correct}/{request.Samples} (density {density:P1}, {watch.Elapsed.TotalSeconds:F1} s)");
                    }
                }

                PrintTable(config.Name, task, request, grid, cells);
                if (request.Heatmap is { } png)
                {
                    var path = Path.Combine(png.DirectoryName ?? ".", $"{Path.GetFileNameWithoutExtension(png.Name)}-{FileSafe(config.Name)}-{Name(task)}.png");
                    File.WriteAllBytes(path, AccuracyHeatmap.Render(grid));
                    AnsiConsole.MarkupLineInterpolated($"wrote [green]{path}[/]");
                }
            }
        }

        var summary = cells
            .GroupBy(c => (c.Config, c.Task, c.Length))
            .Select(g => new SummaryRow(g.Key.Config, g.Key.Task, g.Key.Length, g.Sum(c => c.Correct), g.Sum(c => c.Total), (double)g.Sum(c => c.Correct) / g.Sum(c => c.Total), g.Average(c => c.Density), g.First().NominalDensity))
            .ToList();
        PrintSummary(summary);
        if (request.Json is { } file)
        {
            var report = new
            {
                model = request.Model.Name,
                backend = backend.Name,
                date = DateTimeOffset.UtcNow,
                seed = request.Seed,
                samples_per_cell = request.Samples,
                summary,
                cells,
            };
            File.WriteAllText(file.FullName, JsonSerializer.Serialize(report, _jsonOptions));
            AnsiConsole.MarkupLineInterpolated($"wrote [green]{file.FullName}[/]");
        }

        return 0;
    }

    private static void PrintTable(string config, RetrievalTaskKind task, Request request, double[,] grid, List<CellResult> cells)
    {
        var table = new Table { Title = new TableTitle($"{config} / {Name(task)}: accuracy by depth (rows) and length (columns)") };
        table.AddColumn("depth");
        foreach (var length in request.Lengths)
        {
            table.AddColumn(length.ToString(CultureInfo.InvariantCulture));
        }

        for (var d = 0; d < request.Depths.Length; d++)
        {
            var row = new List<string> { request.Depths[d].ToString("0.##", CultureInfo.InvariantCulture) };
            for (var l = 0; l < request.Lengths.Length; l++)
            {
                row.Add(grid[d, l].ToString("P0", CultureInfo.InvariantCulture));
            }

            table.AddRow([.. row]);
        }

        AnsiConsole.Write(table);
    }

    private static void PrintSummary(List<SummaryRow> summary)
    {
        var table = new Table { Title = new TableTitle("accuracy per config, task and length") }.AddColumns("config", "task", "length", "correct", "accuracy", "density", "nominal");
        foreach (var row in summary)
        {
            table.AddRow(
                Markup.Escape(row.Config),
                row.Task,
                row.Length.ToString(CultureInfo.InvariantCulture),
                $"{row.Correct}/{row.Total}",
                row.Accuracy.ToString("P1", CultureInfo.InvariantCulture),
                row.Density.ToString("P1", CultureInfo.InvariantCulture),
                row.NominalDensity.ToString("P1", CultureInfo.InvariantCulture));
        }

        AnsiConsole.Write(table);
    }

    private static T[] ParseList<T>(string text, string option, Func<string, T> parse)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0)
        {
            throw new CommandUsageException($"{option} is empty; give at least one value");
        }

        try
        {
            return [.. parts.Select(parse)];
        }
        catch (FormatException e)
        {
            throw new CommandUsageException($"{option} '{text}': {e.Message}");
        }
    }

    private static RetrievalTaskKind ParseTask(string text) => text.ToLowerInvariant() switch
    {
        "niah" => RetrievalTaskKind.Niah,
        "multi" => RetrievalTaskKind.Multi,
        "kv" => RetrievalTaskKind.Kv,
        "vt" => RetrievalTaskKind.Vt,
        _ => throw new FormatException($"unknown task '{text}' (known: niah, multi, kv, vt)"),
    };

    /// <summary>"4096", "4K" (4096) or "1M" (1048576); at least 128 tokens.</summary>
    private static int ParseLength(string text)
    {
        var multiplier = text.EndsWith('K') || text.EndsWith('k') ? 1024 : text.EndsWith('M') || text.EndsWith('m') ? 1024 * 1024 : 1;
        var digits = multiplier == 1 ? text : text[..^1];
        if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || (long)value * multiplier < 128 || (long)value * multiplier > int.MaxValue)
        {
            throw new FormatException($"length '{text}' is not a whole number of tokens from 128 to {int.MaxValue} (suffixes K and M allowed)");
        }

        return value * multiplier;
    }

    private static double ParseDepth(string text)
        => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var depth) && depth >= 0 && depth <= 1
            ? depth
            : throw new FormatException($"depth '{text}' is not a number within [0, 1]");

    private static string Name(RetrievalTaskKind task) => task.ToString().ToLowerInvariant();

    /// <summary>Letters and digits kept, every other run of characters one dash: "A-shape(64, 1024)" becomes "A-shape-64-1024".</summary>
    private static string FileSafe(string name)
    {
        var text = new System.Text.StringBuilder(name.Length);
        foreach (var c in name)
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                text.Append(c);
            }
            else if (text.Length > 0 && text[^1] != '-')
            {
                text.Append('-');
            }
        }

        return text.ToString().TrimEnd('-');
    }

    private sealed record Request(
        DirectoryInfo Model,
        RetrievalTaskKind[] Tasks,
        int[] Lengths,
        double[] Depths,
        int Samples,
        string[] Configs,
        int Seed,
        int Threads,
        ComputeDevice Device,
        FileInfo? Json,
        FileInfo? Heatmap);

    private sealed record CellResult(string Config, string Task, int Length, double Depth, int Correct, int Total, double Density, double NominalDensity, double Seconds, List<string> Expected, List<string> Generated);

    private sealed record SummaryRow(string Config, string Task, int Length, int Correct, int Total, double Accuracy, double Density, double NominalDensity);
}
