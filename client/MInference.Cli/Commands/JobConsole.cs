using System.Globalization;
using MInference.Client;
using MInference.Shared.Contracts;
using MInference.Shared.Tokenization;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>Console views of cluster jobs shared by <c>run</c> and <c>submit</c>: a progress bar and the result table.</summary>
internal static class JobConsole
{
    /// <summary>Follows the job with a progress bar until it is final; returns its last progress.</summary>
    public static async Task<JobProgress> WatchAsync(MInferenceClient client, string jobId, CancellationToken cancellationToken)
    {
        JobProgress? last = null;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask($"job {jobId}", maxValue: 1);
                await foreach (var progress in client.WatchAsync(jobId, cancellationToken))
                {
                    last = progress;
                    task.MaxValue = Math.Max(1, progress.TotalTokens);
                    task.Value = progress.ProcessedTokens;
                    task.Description = string.Create(CultureInfo.InvariantCulture, $"job {jobId} {progress.State} ({progress.ChunksDone}/{progress.ChunkCount} chunks)");
                }
            });
        return last!;
    }

    /// <summary>Prints the outcome: throughput, stages and the top next tokens; returns the exit code.</summary>
    public static async Task<int> PrintOutcomeAsync(MInferenceClient client, JobProgress final, ITextTokenizer? tokenizer, CancellationToken cancellationToken)
    {
        if (final.State != JobState.Completed)
        {
            AnsiConsole.MarkupLine($"[red]job {Markup.Escape(final.JobId)} ended {final.State}: {Markup.Escape(final.Error ?? "no error recorded")}[/]");
            return 1;
        }

        var result = await client.GetResultAsync(final.JobId, cancellationToken);
        var t = result.Timings;
        AnsiConsole.MarkupLine(string.Create(
            CultureInfo.InvariantCulture,
            $"pre-fill: [bold]{t.TokensPerSecond:F0} tokens/s[/], {t.RunMilliseconds / 1000:F2} s for {final.TotalTokens} tokens (queued {t.QueuedMilliseconds:F0} ms)"));
        foreach (var (stage, ms) in result.Stages.Zip(t.StageMilliseconds))
        {
            AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"  stage {Markup.Escape(stage.StageKey)}: layers {stage.FirstLayer}-{stage.EndLayer}, {ms / 1000:F2} s compute"));
        }

        PrintDensity(result.Density);

        var table = new Table().AddColumns("rank", "token id", "text", "probability");
        var rank = 1;
        foreach (var token in result.TopTokens)
        {
            var text = tokenizer is null ? string.Empty : RunCommand.TokenText(tokenizer, token.TokenId);
            table.AddRow($"{rank++}", $"{token.TokenId}", Markup.Escape(text), token.Probability.ToString("P2", CultureInfo.InvariantCulture));
        }

        AnsiConsole.MarkupLine("top next tokens:");
        AnsiConsole.Write(table);
        PrintGenerated(result.GeneratedTokenIds, result.GeneratedText);
        return 0;
    }

    /// <summary>
    /// The greedily generated continuation (submissions with MaxNewTokens > 0): the text the silo decoded
    /// with the model's tokenizer, or the ids when some id has none (generated models pad their embedding).
    /// </summary>
    private static void PrintGenerated(IReadOnlyList<int>? generated, string? generatedText)
    {
        if (generated is not { Count: > 0 })
        {
            return;
        }

        var text = generatedText ?? string.Join(' ', generated);
        AnsiConsole.MarkupLine(string.Create(
            CultureInfo.InvariantCulture,
            $"generated {generated.Count} tokens{(generatedText is null ? " (ids)" : string.Empty)}: [bold]{Markup.Escape(text)}[/]"));
    }

    /// <summary>One line: the pre-fill's attention density over all layers, then each layer's.</summary>
    private static void PrintDensity(IReadOnlyList<LayerDensity>? density)
    {
        if (density is not { Count: > 0 })
        {
            return;
        }

        var covered = density.Sum(d => (double)d.CoveredPairs);
        var causal = density.Sum(d => (double)d.CausalPairs);
        var bound = density.All(d => d.Measured) ? string.Empty : " (upper bound: some sparse heads counted by their budgets)";
        var layers = string.Join(", ", density.Select(d => string.Create(CultureInfo.InvariantCulture, $"L{d.Layer} {d.Density:P1}")));
        AnsiConsole.MarkupLine(string.Create(
            CultureInfo.InvariantCulture,
            $"attention density: [bold]{(causal == 0 ? 1 : covered / causal):P1}[/] of the causal pairs{Markup.Escape(bound)}; per layer: {Markup.Escape(layers)}"));
    }
}
