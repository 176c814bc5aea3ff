using System.CommandLine;
using System.Globalization;
using MInference.Shared.Contracts;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary><c>minference status JOB</c>: one look at a job on a running cluster.</summary>
public static class StatusCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("job") { Description = "Job id" };
        var target = new ClusterTargetOptions();
        var command = new Command("status", "Show a job's state, progress, attempts and stages") { job };
        target.AddTo(command);
        command.SetAction((parse, cancellationToken) => ClusterConnection.RunAsync(async () =>
        {
            await using var client = await target.Read(parse).ConnectAsync(cancellationToken);
            var progress = await client.GetProgressAsync(parse.GetValue(job)!, cancellationToken);
            Print(progress);
            return progress.State == JobState.Unknown ? CommandErrors.BadInput : 0;
        }));
        return command;
    }

    internal static void Print(JobProgress progress)
    {
        var table = new Table().AddColumns("job", "state", "tokens", "chunks", "attempt", "stages");
        table.AddRow(
            Markup.Escape(progress.JobId),
            progress.State.ToString(),
            string.Create(CultureInfo.InvariantCulture, $"{progress.ProcessedTokens}/{progress.TotalTokens}"),
            string.Create(CultureInfo.InvariantCulture, $"{progress.ChunksDone}/{progress.ChunkCount}"),
            progress.Attempt.ToString(CultureInfo.InvariantCulture),
            Markup.Escape(string.Join(", ", progress.StageKeys ?? [])));
        AnsiConsole.Write(table);
        if (progress.RetryReason is { } reason)
        {
            AnsiConsole.MarkupLine($"[yellow]last retry: {Markup.Escape(reason)}[/]");
        }

        if (progress.Error is { } error)
        {
            AnsiConsole.MarkupLine($"[red]error: {Markup.Escape(error)}[/]");
        }
    }
}
