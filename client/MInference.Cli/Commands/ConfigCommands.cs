using System.CommandLine;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary><c>minference config import|show</c>: convert MInference pattern files and inspect pattern configs.</summary>
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
        var output = new Option<FileInfo>("--out") { Description = "Where to write the config in our format", Required = true };
        var command = new Command("import", "Convert a MInference best_pattern file into our config format") { file, model, layers, heads, output };
        command.Validators.Add(result =>
        {
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
        command.SetAction(parseResult => CommandErrors.Run(() =>
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
            var destination = parseResult.GetValue(output)!.FullName;
            PatternConfigJson.Save(imported, destination);
            AnsiConsole.MarkupLineInterpolated($"Wrote [bold]{destination}[/] ({layerCount} layers x {headCount} heads)");
            PrintSummary(imported);
        }));
        return command;
    }

    private static Command CreateShow()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "Pattern config in our format, or a MInference best_pattern file" };
        var command = new Command("show", "Print how many heads run each pattern") { file };
        command.SetAction(parseResult => CommandErrors.Run(() =>
        {
            var path = parseResult.GetValue(file)!.FullName;
            var loaded = LoadAny(path);
            AnsiConsole.MarkupLineInterpolated($"[bold]{path}[/]: {loaded.LayerCount} layers x {loaded.HeadCount} heads{(loaded.Source is null ? "" : $", from {loaded.Source}")}");
            PrintSummary(loaded);
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
