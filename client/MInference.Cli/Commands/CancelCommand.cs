using System.CommandLine;

namespace MInference.Cli.Commands;

/// <summary><c>minference cancel JOB</c>: cancels a queued or running job (its stages free their memory).</summary>
public static class CancelCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("job") { Description = "Job id" };
        var target = new ClusterTargetOptions();
        var command = new Command("cancel", "Cancel a queued or running job") { job };
        target.AddTo(command);
        command.SetAction((parse, cancellationToken) => ClusterConnection.RunAsync(async () =>
        {
            await using var client = await target.Read(parse).ConnectAsync(cancellationToken);
            await client.CancelAsync(parse.GetValue(job)!, cancellationToken);
            var final = await client.WatchAsync(parse.GetValue(job)!, cancellationToken).LastAsync(cancellationToken);
            StatusCommand.Print(final);
            return 0;
        }));
        return command;
    }
}
