using System.CommandLine;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference config import|show</c>: convert MInference pattern files and inspect pattern configs, in
/// files or as a running cluster's coordinator stores them (a registered model's default config).
/// </summary>
public static class ConfigCommands
{
    public static Command Create()
    {
        var config = new Command("config", "Per-head sparse pattern configs");
        config.Subcommands.Add(CreateImport());
        config.Subcommands.Add(CreateShow());
        return config;
    }

    private static Command CreateImport()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "MInference best_pattern JSON file" };
        var model = new Option<DirectoryInfo>("--model") { Description = "Model directory whose config.json gives the layer and head counts" };
        var layers = new Option<int?>("--layers") { Description = "Layer count (instead of --model)" };
        var heads = new Option<int?>("--heads") { Description = "Query heads per layer (instead of --model)" };
        var output = new Option<FileInfo>("--out") { Description = "Where to write the config in our format" };
        var put = new Option<string?>("--put")
        {
            Description = "Store the config in the cluster as this registered model's default (the coordinator checks that it fits)",
        };
        var target = new ClusterTargetOptions();
        var command = new Command("import", "Convert a MInference best_pattern file into our config format, into a file and/or the cluster") { file, model, layers, heads, output, put };
        target.AddTo(command);
        command.Validators.Add(result =>
        {
            if (result.GetValue(output) is null && result.GetValue(put) is null)
            {
                result.AddError("give --out FILE, --put MODEL_ID or both");
            }

            var hasModel = result.GetValue(model) is not null;
            var hasCounts = result.GetValue(layers) is not null || result.GetValue(heads) is not null;
            if (hasModel == hasCounts)
            {
                result.AddError("give either --model DIR or both --layers L and --heads H");
            }
            else if (hasCounts && (result.GetValue(layers) is null || result.GetValue(heads) is null))
            {
                result.AddError("--layers and --heads go together");
            }
        });
        command.SetAction((parseResult, cancellationToken) => ClusterConnection.RunAsync(async () =>
        {
            var (layerCount, headCount) = parseResult.GetValue(model) is { } directory
                ? ReadModelShape(directory.FullName)
                : (parseResult.GetValue(layers)!.Value, parseResult.GetValue(heads)!.Value);
            if (layerCount < 1 || headCount < 1)
            {
                throw new PatternConfigException($"--layers {layerCount} and --heads {headCount} must both be at least 1");
            }

            var source = parseResult.GetValue(file)!.FullName;
            var imported = MInferenceBestPatternImporter.Load(source, layerCount, headCount);
            if (parseResult.GetValue(output) is { } destination)
            {
                PatternConfigJson.Save(imported, destination.FullName);
                AnsiConsole.MarkupLineInterpolated($"Wrote [bold]{destination.FullName}[/] ({layerCount} layers x {headCount} heads)");
            }

            if (parseResult.GetValue(put) is { } modelId)
            {
                // The file is parsed here and the JSON checked again by the coordinator against the registered model's shape.
                await using var client = await target.Read(parseResult).ConnectAsync(cancellationToken);
                await client.PutPatternConfigAsync(modelId, PatternConfigJson.Serialize(imported), cancellationToken);
                AnsiConsole.MarkupLineInterpolated($"Stored as the default pattern config of model [bold]{modelId}[/] ({layerCount} layers x {headCount} heads)");
            }

            PrintSummary(imported);
            return 0;
        }));
        return command;
    }

    private static Command CreateShow()
    {
        var file = new Argument<FileInfo?>("FILE") { Description = "Pattern config in our format, or a MInference best_pattern file", Arity = ArgumentArity.ZeroOrOne };
        var clusterModel = new Option<string?>("--cluster-model")
        {
            Description = "Show the default pattern config the cluster stores for this registered model instead of a file",
        };
        var target = new ClusterTargetOptions();
        var command = new Command("show", "Print how many heads run each pattern") { file, clusterModel };
        target.AddTo(command);
        command.Validators.Add(result =>
        {
            if ((result.GetValue(file) is null) == (result.GetValue(clusterModel) is null))
            {
                result.AddError("give either FILE or --cluster-model MODEL_ID");
            }
        });
        command.SetAction((parseResult, cancellationToken) => ClusterConnection.RunAsync(async () =>
        {
            if (parseResult.GetValue(file) is { } source)
            {
                var loaded = LoadAny(source.FullName);
                AnsiConsole.MarkupLineInterpolated($"[bold]{source.FullName}[/]: {loaded.LayerCount} layers x {loaded.HeadCount} heads{(loaded.Source is null ? "" : $", from {loaded.Source}")}");
                PrintSummary(loaded);
                return 0;
            }

            var modelId = parseResult.GetValue(clusterModel)!;
            await using var client = await target.Read(parseResult).ConnectAsync(cancellationToken);
            var models = await client.GetModelsAsync(cancellationToken);
            if (!models.Any(m => string.Equals(m.ModelId, modelId, StringComparison.Ordinal)))
            {
                throw new ArgumentException(
                    $"model '{modelId}' is not registered with the cluster (known: {(models.Count == 0 ? "none" : string.Join(", ", models.Select(m => m.ModelId)))})");
            }

            var json = await client.GetPatternConfigAsync(modelId, cancellationToken);
            if (json is null)
            {
                AnsiConsole.MarkupLineInterpolated($"Model [bold]{modelId}[/] has no stored pattern config: its jobs run dense unless they bring their own");
                return 0;
            }

            var stored = PatternConfigJson.Parse(json, $"the cluster's pattern config for '{modelId}'");
            AnsiConsole.MarkupLineInterpolated($"Model [bold]{modelId}[/] (cluster): {stored.LayerCount} layers x {stored.HeadCount} heads{(stored.Source is null ? "" : $", from {stored.Source}")}");
            PrintSummary(stored);
            return 0;
        }));
        return command;
    }

    /// <summary>Our format, or a MInference list whose shape is inferred (its layers, its highest head + 1).</summary>
    private static PatternConfig LoadAny(string path)
    {
        var text = File.ReadAllText(path);
        if (!text.TrimStart().StartsWith('['))
        {
            return PatternConfigJson.Parse(text, path);
        }

        var (layers, heads) = MInferenceBestPatternImporter.InferShape(text, path);
        AnsiConsole.MarkupLineInterpolated($"[yellow]MInference file: shape inferred as {layers} layers x {heads} heads; heads it does not list count as the default {HeadPattern.Default}[/]");
        return MInferenceBestPatternImporter.Parse(text, layers, heads, path);
    }


    private static void PrintSummary(PatternConfig config)
    {
        var total = config.LayerCount * config.HeadCount;
        var table = new Table().AddColumn("pattern").AddColumn(new TableColumn("heads").RightAligned()).AddColumn(new TableColumn("share").RightAligned());
        foreach (var (pattern, heads) in config.Summarize())
        {
            table.AddRow(Markup.Escape(pattern.ToString()), heads.ToString(System.Globalization.CultureInfo.InvariantCulture), $"{100.0 * heads / total:F1}%");
        }

        AnsiConsole.Write(table);
    }

    /// <summary>Layers and query heads of the model directory's config.json, read by the model loader's own reader.</summary>
    private static (int Layers, int Heads) ReadModelShape(string directory)
    {
        var spec = ModelConfigReader.ReadDirectory(directory);
        return (spec.LayerCount, spec.QueryHeadCount);
    }
}
