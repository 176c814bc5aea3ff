using System.CommandLine;
using MInference.Engine.Analysis;
using MInference.Kernels.Cpu;
using MInference.Kernels.Sparse;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using MInference.Shared.Tokenization;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference search</c>: the offline kernel-aware pattern search (paper Algorithm 1) on the CPU
/// backend. One reference input (a text file, or a seeded synthetic KV-retrieval prompt in the model's
/// tokenizer) runs densely through the model; every head picks the candidate of
/// <see cref="PatternSearchSpace"/> closest to dense on a seeded sample of query rows (<c>--rows</c>);
/// the config is written in our JSON format.
/// </summary>
public static class SearchCommand
{
    /// <summary>Length of the generated KV-retrieval prompt when no --input is given.</summary>
    public const int DefaultReferenceTokens = 4096;

    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model directory", Required = true };
        var input = new Option<FileInfo?>("--input") { Description = "Reference text (default: a synthetic KV-retrieval prompt)" };
        var output = new Option<FileInfo>("--out") { Description = "Where to write the config", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the generated KV-retrieval prompt", DefaultValueFactory = _ => 0 };
        var tokens = new Option<int>("--tokens") { Description = "Reference length in tokens (generated prompt length, or cut for --input)", DefaultValueFactory = _ => DefaultReferenceTokens };
        var threads = new Option<int>("--threads") { Description = "Worker threads of the CPU backend", DefaultValueFactory = _ => Environment.ProcessorCount };
        var rows = new Option<int>("--rows")
        {
            Description = "Query rows per layer on which candidates are scored against dense (a seeded stratified sample, exact for those rows)",
            DefaultValueFactory = _ => PatternSearchOptions.DefaultSampledRows,
        };
        var command = new Command("search", "Pick every head's sparse pattern by its output error against dense on a reference input")
        {
            model, input, output, seed, tokens, threads, rows,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(
            parse.GetValue(model)!, parse.GetValue(input), parse.GetValue(output)!, parse.GetValue(seed), parse.GetValue(tokens), parse.GetValue(threads), parse.GetValue(rows), cancellationToken)));
        return command;
    }

    private static int Run(DirectoryInfo model, FileInfo? input, FileInfo output, int seed, int tokenCount, int threads, int sampledRows, CancellationToken cancellationToken)
    {
        try
        {
            if (tokenCount < 1 || threads < 1 || sampledRows < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(tokenCount), $"--tokens ({tokenCount}), --threads ({threads}) and --rows ({sampledRows}) must be at least 1");
            }

            using var weights = SafetensorsModelWeights.Open(model.FullName);
            var spec = weights.Spec;
            var tokenizer = TokenizerLoader.Load(model.FullName);
            int[] ids;
            if (input is null)
            {
                (ids, var key, _) = KeyValueRetrievalPrompt.Build(tokenizer, tokenCount, seed);
                AnsiConsole.MarkupLineInterpolated($"reference: synthetic KV retrieval, {ids.Length} tokens, seed {seed}, asking for key {key}");
            }
            else
            {
                ids = tokenizer.Encode(File.ReadAllText(input.FullName));
                ids = ids.Length > tokenCount ? ids[..tokenCount] : ids;
                AnsiConsole.MarkupLineInterpolated($"reference: {input.FullName}, {ids.Length} tokens");
            }

            var candidates = PatternSearchSpace.Candidates(ids.Length);
            AnsiConsole.MarkupLineInterpolated($"candidates: {string.Join(", ", candidates)}");
            using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = threads });
            var options = new PatternSearchOptions { Candidates = candidates, SampledRows = sampledRows, Seed = seed, Scorer = new HostCandidateScorer(threads) };
            AnsiConsole.MarkupLineInterpolated($"scoring on {Math.Min(sampledRows, ids.Length)} of {ids.Length} query rows per layer (seed {seed})");
            var watch = System.Diagnostics.Stopwatch.StartNew();
            PatternConfig config = null!;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(context =>
                {
                    var task = context.AddTask("heads", maxValue: spec.LayerCount * spec.QueryHeadCount);
                    config = PatternSearch.Run(weights, backend, ids, options, new AnalyzeCommand.InlineProgress<int>(done => task.Value = done), cancellationToken);
                });
            AnsiConsole.MarkupLineInterpolated($"searched {spec.LayerCount * spec.QueryHeadCount} heads in {watch.Elapsed.TotalSeconds:F1} s");

            PatternConfigJson.Save(config, output.FullName);
            AnsiConsole.MarkupLineInterpolated($"wrote [green]{output.FullName}[/] ({spec.LayerCount} layers x {spec.QueryHeadCount} heads)");
            var table = new Table().AddColumns("pattern", "heads");
            foreach (var (pattern, heads) in config.Summarize())
            {
                table.AddRow(Markup.Escape(pattern.ToString()), heads.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            AnsiConsole.Write(table);
            return 0;
        }
        catch (Exception e) when (CommandErrors.IsUserError(e))
        {
            return CommandErrors.Report(e);
        }
    }
}
