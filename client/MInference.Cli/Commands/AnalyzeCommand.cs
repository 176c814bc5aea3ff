using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MInference.Engine.Analysis;
using MInference.Kernels.Cpu;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using MInference.Shared.Tokenization;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference analyze</c>: per (layer, head), how far a pattern config's sparse attention is from
/// dense on one input (relative L2 error of the output, attention-mass recall, density), plus a
/// per-layer summary. Each layer is measured on the dense model's Q/K/V (see <see cref="ReferencePass"/>).
/// </summary>
public static class AnalyzeCommand
{
    private static readonly JsonSerializerOptions _jsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model directory", Required = true };
        var input = new Option<FileInfo>("--input") { Description = "Text file to analyse (tokenized with the model's tokenizer)", Required = true };
        var config = new Option<FileInfo?>("--config") { Description = $"Pattern config (our JSON); default: every head {HeadPattern.Default}" };
        var tokens = new Option<int?>("--tokens") { Description = "Use only the first N tokens of the input" };
        var threads = new Option<int>("--threads") { Description = "Worker threads of the CPU backend", DefaultValueFactory = _ => Environment.ProcessorCount };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the report to this JSON file" };
        var rows = new Option<int?>("--rows") { Description = "Measure error and recall on a seeded sample of N query rows per layer (exact for those rows; density stays exact); default: every row" };
        var command = new Command("analyze", "Fidelity and density of a pattern config against dense attention, per layer and head")
        {
            model, input, config, tokens, threads, json, rows,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(
            parse.GetValue(model)!, parse.GetValue(input)!, parse.GetValue(config), parse.GetValue(tokens), parse.GetValue(threads), parse.GetValue(json), parse.GetValue(rows), cancellationToken)));
        return command;
    }

    private static int Run(DirectoryInfo model, FileInfo input, FileInfo? configFile, int? tokenLimit, int threads, FileInfo? json, int? sampledRows, CancellationToken cancellationToken)
    {
        try
        {
            if (tokenLimit < 1 || threads < 1 || sampledRows < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(tokenLimit), $"--tokens ({tokenLimit}), --threads ({threads}) and --rows ({sampledRows}) must be at least 1");
            }

            using var weights = SafetensorsModelWeights.Open(model.FullName);
            var spec = weights.Spec;
            var config = configFile is null
                ? PatternConfig.Uniform(spec.LayerCount, spec.QueryHeadCount, HeadPattern.Default)
                : PatternConfigJson.Load(configFile.FullName);
            config.EnsureFits(spec.LayerCount, spec.QueryHeadCount, model.FullName);
            var ids = TokenizerLoader.Load(model.FullName).Encode(File.ReadAllText(input.FullName));
            if (tokenLimit is { } limit && ids.Length > limit)
            {
                ids = ids[..limit];
            }

            using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = threads });
            FidelityReport report = null!;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(context =>
                {
                    var task = context.AddTask("layers", maxValue: spec.LayerCount);
                    report = PatternFidelityAnalyzer.Analyze(weights, backend, config, ids, sampledRows, seed: 0, new InlineProgress<int>(done => task.Value = done), cancellationToken);
                });

            AnsiConsole.MarkupLineInterpolated($"[bold]{model.FullName}[/]: {ids.Length} tokens, config {configFile?.FullName ?? "default"}");
            if (sampledRows < ids.Length)
            {
                AnsiConsole.MarkupLineInterpolated($"error and recall on {sampledRows} sampled query rows per layer; density over every row");
            }

            var table = new Table().AddColumns("layer", "head", "pattern", "ran as", "rel. L2 error", "recall", "density");
            foreach (var row in report.Heads)
            {
                table.AddRow(
                    Invariant(row.Layer), Invariant(row.Head), Markup.Escape(row.Pattern.ToString()), row.RanAs.ToString(),
                    row.RelativeError.ToString("E2", CultureInfo.InvariantCulture), row.Recall.ToString("F4", CultureInfo.InvariantCulture), Percent(row.Density));
            }

            AnsiConsole.Write(table);
            var summary = new Table().AddColumns("layer", "mean error", "max error", "mean recall", "density");
            foreach (var layer in report.Layers)
            {
                summary.AddRow(
                    Invariant(layer.Layer), layer.MeanError.ToString("E2", CultureInfo.InvariantCulture), layer.MaxError.ToString("E2", CultureInfo.InvariantCulture),
                    layer.MeanRecall.ToString("F4", CultureInfo.InvariantCulture), Percent(layer.Density));
            }

            AnsiConsole.MarkupLine("[bold]Per layer[/]");
            AnsiConsole.Write(summary);
            if (json is not null)
            {
                var document = new
                {
                    model = model.FullName,
                    tokens = ids.Length,
                    config = configFile?.FullName,
                    heads = report.Heads.Select(h => new { h.Layer, h.Head, pattern = h.Pattern.ToString(), ran_as = h.RanAs.ToString(), h.RelativeError, h.Recall, h.Density }),
                    layers = report.Layers,
                };
                File.WriteAllText(json.FullName, JsonSerializer.Serialize(document, _jsonOptions));
                AnsiConsole.MarkupLineInterpolated($"wrote [green]{json.FullName}[/]");
            }

            return 0;
        }
        catch (Exception e) when (CommandErrors.IsUserError(e))
        {
            return CommandErrors.Report(e);
        }
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Percent(double share) => (100 * share).ToString("F1", CultureInfo.InvariantCulture) + "%";

    /// <summary>Reports on the calling thread, so the bar moves as the work does.</summary>
    internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
