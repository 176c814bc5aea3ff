using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary><c>minference models [remove ID]</c>: the models and devices a running cluster's coordinator knows; forgetting a model.</summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var target = new ClusterTargetOptions();
        var command = new Command("models", "List the cluster's registered models and devices");
        target.AddTo(command);
        command.SetAction((parse, cancellationToken) => ClusterConnection.RunAsync(async () =>
        {
            await using var client = await target.Read(parse).ConnectAsync(cancellationToken);
            var models = await client.GetModelsAsync(cancellationToken);
            var devices = await client.GetDevicesAsync(cancellationToken);
            var modelTable = new Table().AddColumns("model id", "architecture", "layers", "vocabulary", "directory");
            foreach (var m in models)
            {
                modelTable.AddRow(
                    Markup.Escape(m.ModelId), Markup.Escape(m.Architecture), m.LayerCount.ToString(CultureInfo.InvariantCulture), m.VocabSize.ToString(CultureInfo.InvariantCulture), Markup.Escape(m.Directory));
            }

            var deviceTable = new Table().AddColumns("stage key", "kind", "name", "memory");
            foreach (var d in devices)
            {
                deviceTable.AddRow(Markup.Escape(d.StageKey), Markup.Escape(d.Kind), Markup.Escape(d.Name), string.Create(CultureInfo.InvariantCulture, $"{d.MemoryBytes / (double)(1L << 30):F1} GiB"));
            }

            AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"{models.Count} models:"));
            AnsiConsole.Write(modelTable);
            AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"{devices.Count} devices:"));
            AnsiConsole.Write(deviceTable);
            return 0;
        }));
        command.Subcommands.Add(CreateRemove());
        return command;
    }

    private static Command CreateRemove()
    {
        var target = new ClusterTargetOptions();
        var modelId = new Argument<string>("ID") { Description = "Registered model id to forget (with its stored pattern config)" };
        var command = new Command("remove", "Forget a registered model and its pattern config (jobs already running keep their plan)") { modelId };
        target.AddTo(command);
        command.SetAction((parse, cancellationToken) => ClusterConnection.RunAsync(async () =>
        {
            var id = parse.GetValue(modelId)!;
            await using var client = await target.Read(parse).ConnectAsync(cancellationToken);
            if (!await client.UnregisterModelAsync(id, cancellationToken))
            {
                throw new ArgumentException($"model '{id}' is not registered with the cluster");
            }

            AnsiConsole.MarkupLineInterpolated($"Model [bold]{id}[/] removed");
            return 0;
        }));
        return command;
    }
}
