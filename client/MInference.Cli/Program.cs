using System.CommandLine;
using MInference.Cli.Commands;

// The `minference` command line. Each command lives in its own file under Commands/.
var root = new RootCommand("MInference.Cluster: million-token pre-fill with dynamic sparse attention");
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(ModelCommands.Create());
root.Subcommands.Add(ConfigCommands.Create());
root.Subcommands.Add(BenchCommands.Create());
root.Subcommands.Add(SubmitCommand.Create());
root.Subcommands.Add(StatusCommand.Create());
root.Subcommands.Add(WatchCommand.Create());
root.Subcommands.Add(CancelCommand.Create());
root.Subcommands.Add(ModelsCommand.Create());
root.Subcommands.Add(AnalyzeCommand.Create());
root.Subcommands.Add(SearchCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
return await root.Parse(args).InvokeAsync();
