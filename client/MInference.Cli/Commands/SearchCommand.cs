using System.CommandLine;
using MInference.Engine.Analysis;
using MInference.Engine.Evaluation;
using MInference.Kernels.Cpu;
using MInference.Kernels.Sparse;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using MInference.Shared.Tokenization;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference search</c>: the offline kernel-aware pattern search (paper Algorithm 1) on the CPU
/// backend. One reference input (a text file, or a seeded synthetic prompt in the model's tokenizer:
/// KV retrieval as in the paper, or a needle in a haystack with <c>--reference niah</c>) runs densely
/// through the model; every head picks the candidate of <see cref="PatternSearchSpace"/> closest to dense
/// on a seeded sample of query rows (<c>--rows</c>) and on the reference's final rows
/// (<c>--final-rows</c>, <see cref="ScoringRows"/>); the config is written in our JSON format.
/// </summary>
public static class SearchCommand
{
    /// <summary>Length of the generated KV-retrieval prompt when no --input is given.</summary>
    public const int DefaultReferenceTokens = 4096;

    /// <summary>Depth of the needle of <c>--reference niah</c> without a depth.</summary>
    public const double DefaultNeedleDepth = 0.5;

    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Hugging Face model directory", Required = true };
        var input = new Option<FileInfo?>("--input") { Description = "Reference text (default: a synthetic prompt, see --reference)" };
        var reference = new Option<string>("--reference")
        {
            Description = "Synthetic reference when no --input is given: kv (KV retrieval, the paper's) or niah[:DEPTH] (a needle at DEPTH in [0, 1], default 0.5)",
            DefaultValueFactory = _ => "kv",
        };
        var finalRows = new Option<int>("--final-rows")
        {
            Description = "The reference's last rows scored as a group of their own (a candidate's error is the worse of the sample's and theirs); 0 scores the sample alone",
            DefaultValueFactory = _ => PatternSearchOptions.DefaultFinalRows,
        };
        var output = new Option<FileInfo>("--out") { Description = "Where to write the config", Required = true };
        var seed = new Option<int>("--seed") { Description = "Seed of the generated reference prompt and of the row sample", DefaultValueFactory = _ => 0 };
        var tokens = new Option<int>("--tokens") { Description = "Reference length in tokens (generated prompt length, or cut for --input)", DefaultValueFactory = _ => DefaultReferenceTokens };
        var threads = new Option<int>("--threads") { Description = "Worker threads of the CPU backend", DefaultValueFactory = _ => Environment.ProcessorCount };
        var rows = new Option<int>("--rows")
        {
            Description = "Query rows per layer on which candidates are scored against dense (a seeded stratified sample, exact for those rows)",
            DefaultValueFactory = _ => PatternSearchOptions.DefaultSampledRows,
        };
        var command = new Command("search", "Pick every head's sparse pattern by its output error against dense on a reference input")
        {
            model, input, reference, output, seed, tokens, threads, rows, finalRows,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(
            new Request(
                parse.GetValue(model)!,
                parse.GetValue(input),
                parse.GetValue(reference)!,
                parse.GetValue(output)!,
                parse.GetValue(seed),
                parse.GetValue(tokens),
                parse.GetValue(threads),
                parse.GetValue(rows),
                parse.GetValue(finalRows)),
            cancellationToken)));
        return command;
    }

    private static int Run(Request request, CancellationToken cancellationToken)
    {
        var (model, input, output, seed, tokenCount, threads, sampledRows) =
            (request.Model, request.Input, request.Output, request.Seed, request.Tokens, request.Threads, request.Rows);
        try
        {
            if (tokenCount < 1 || threads < 1 || sampledRows < 1 || request.FinalRows < 0)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(request),
                    $"--tokens ({tokenCount}), --threads ({threads}) and --rows ({sampledRows}) must be at least 1, --final-rows ({request.FinalRows}) at least 0");
            }

            using var weights = SafetensorsModelWeights.Open(model.FullName);
            var spec = weights.Spec;
            var tokenizer = TokenizerLoader.Load(model.FullName);
            int[] ids;
            if (input is not null)
            {
                ids = tokenizer.Encode(File.ReadAllText(input.FullName));
                ids = ids.Length > tokenCount ? ids[..tokenCount] : ids;
                AnsiConsole.MarkupLineInterpolated($"reference: {input.FullName}, {ids.Length} tokens");
            }
            else if (ParseNeedleDepth(request.Reference) is { } depth)
            {
                var sample = RetrievalTaskGenerator.Create(RetrievalTaskKind.Niah, tokenCount, depth, seed);
                ids = tokenizer.Encode(sample.Prompt);
                AnsiConsole.MarkupLineInterpolated($"reference: synthetic needle in a haystack, {ids.Length} tokens, seed {seed}, needle at depth {depth:0.##} (answer {sample.Answer})");
            }
            else
            {
                (ids, var key, _) = KeyValueRetrievalPrompt.Build(tokenizer, tokenCount, seed);
                AnsiConsole.MarkupLineInterpolated($"reference: synthetic KV retrieval, {ids.Length} tokens, seed {seed}, asking for key {key}");
            }

            var candidates = PatternSearchSpace.Candidates(ids.Length);
            AnsiConsole.MarkupLineInterpolated($"candidates: {string.Join(", ", candidates)}");
            using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = threads });
            var options = new PatternSearchOptions
            {
                Candidates = candidates,
                SampledRows = sampledRows,
                FinalRows = request.FinalRows,
                Seed = seed,
                Scorer = new HostCandidateScorer(threads),
            };
            AnsiConsole.MarkupLineInterpolated(
                $"scoring on {Math.Min(sampledRows, ids.Length)} of {ids.Length} query rows per layer (seed {seed}) and on the last {Math.Min(request.FinalRows, ids.Length)} rows as their own group");
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

    /// <summary>The needle's depth for "niah" or "niah:DEPTH"; null for "kv"; anything else is a usage error.</summary>
    private static double? ParseNeedleDepth(string reference)
    {
        var parts = reference.Split(':', 2, StringSplitOptions.TrimEntries);
        switch (parts[0].ToLowerInvariant())
        {
            case "kv" when parts.Length == 1:
                return null;
            case "niah" when parts.Length == 1:
                return DefaultNeedleDepth;
            case "niah" when double.TryParse(parts[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var depth) && depth >= 0 && depth <= 1:
                return depth;
            default:
                throw new CommandUsageException($"--reference '{reference}' is not kv, niah or niah:DEPTH with DEPTH within [0, 1]");
        }
    }

    private sealed record Request(
        DirectoryInfo Model, FileInfo? Input, string Reference, FileInfo Output, int Seed, int Tokens, int Threads, int Rows, int FinalRows);
}
