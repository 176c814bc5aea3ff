using System.CommandLine;

namespace MInference.Cli.Commands;

/// <summary><c>minference watch JOB</c>: a progress bar until the job ends, then its result.</summary>
public static class WatchCommand
{
    public static Command Create()
    {
        var job = new Argument<string>("job") { Description = "Job id" };
        var target = new ClusterTargetOptions();
        var command = new Command("watch", "Follow a job with a progress bar and print its result") { job };
        target.AddTo(command);
        command.SetAction((parse, cancellationToken) => ClusterConnection.RunAsync(async () =>
        {
            await using var client = await target.Read(parse).ConnectAsync(cancellationToken);
            var final = await JobConsole.WatchAsync(client, parse.GetValue(job)!, cancellationToken);
            return await JobConsole.PrintOutcomeAsync(client, final, tokenizer: null, cancellationToken);
        }));
        return command;
    }
}
