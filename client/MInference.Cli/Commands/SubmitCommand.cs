using System.CommandLine;
using System.Globalization;
using MInference.Client;
using MInference.Shared.Contracts;
using MInference.Shared.Tokenization;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference submit [FILE|DIR]</c>: registers a model with a running cluster (<c>--gateway</c>) or an
/// embedded one (<c>--embedded</c>), then submits a UTF-8 text file (tokenized with the model's tokenizer)
/// and watches it, or every <c>*.txt</c> file of a folder as a batch (bounded concurrency, one line per
/// document as it ends; one document's failure does not stop the others). Without a path, a generated
/// document of <c>--tokens</c> tokens.
/// </summary>
public static class SubmitCommand
{
    public static Command Create()
    {
        var path = new Argument<string?>("path") { Description = "A UTF-8 text file, or a folder whose *.txt files run as a batch (default: a generated document of --tokens tokens)", Arity = ArgumentArity.ZeroOrOne };
        var model = new Option<DirectoryInfo?>("--model") { Description = "Model directory, readable by the silos (default: the generated tiny model in --cache)" };
        var modelId = new Option<string>("--model-id") { Description = "Id to register the model under", DefaultValueFactory = _ => "default" };
        var tokens = new Option<int>("--tokens") { Description = "Length of the generated document when no path is given", DefaultValueFactory = _ => RunCommand.DefaultTokens };
        var chunk = new Option<int>("--chunk") { Description = "Tokens per chunk", DefaultValueFactory = _ => RunCommand.DefaultChunkTokens };
        var stages = new Option<int?>("--stages") { Description = "Pipeline depth (default: as few stages as memory allows)" };
        var dynamic = new Option<bool>("--dynamic-chunks") { Description = "Cost-balanced chunks: about as many as --chunk gives, later ones shorter (they attend over a longer prefix)" };
        var patterns = new Option<string?>("--patterns") { Description = "Sparse patterns: a pattern config JSON file, or 'dense' (default: the config registered for the model, else dense)" };
        var maxNewTokens = new Option<int>("--max-new-tokens")
        {
            Description = $"Tokens to generate greedily after the pre-fill (0 to {JobSubmission.MaxNewTokensLimit})",
            DefaultValueFactory = _ => 0,
        };
        var kv = new Option<KvRetention>("--kv")
        {
            Description = "What the stages do with the job's KV caches once it completed: release them, keep them (until released or the job is cancelled), or export them to --kv-dir",
            DefaultValueFactory = _ => KvRetention.Release,
        };
        var kvDirectory = new Option<DirectoryInfo?>("--kv-dir") { Description = "With --kv export: the folder (on the silos) that receives {job id}/layer-NNN.safetensors" };
        var jobId = new Option<string?>("--job-id") { Description = "Client-chosen job id (a batch uses it as the prefix of its documents' ids); submitting again with the same id and document is idempotent" };
        var concurrency = new Option<int>("--concurrency") { Description = "Batch documents in flight at once", DefaultValueFactory = _ => MInferenceClient.DefaultBatchConcurrency };
        var target = new ClusterTargetOptions();
        var embedded = new Option<bool>("--embedded") { Description = "Run on a single-silo cluster hosted in this process instead of --gateway or --redis" };
        var threads = new Option<int>("--threads") { Description = "CPU threads of the embedded cluster's device", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cache = new Option<DirectoryInfo>("--cache") { Description = "Where generated models are kept", DefaultValueFactory = _ => new DirectoryInfo(RunCommand.DefaultCacheDirectory()) };
        var command = new Command("submit", "Submit a document, or a folder of documents as a batch, to a running or embedded cluster")
        {
            path, model, modelId, tokens, chunk, dynamic, stages, patterns, maxNewTokens, kv, kvDirectory, jobId, concurrency, embedded, threads, cache,
        };
        target.AddTo(command);
        command.SetAction((parse, cancellationToken) => ClusterConnection.RunAsync(() => SubmitAsync(
            new Settings(
                parse.GetValue(path),
                parse.GetValue(model),
                parse.GetValue(modelId)!,
                parse.GetValue(tokens),
                parse.GetValue(chunk),
                parse.GetValue(dynamic),
                parse.GetValue(stages),
                parse.GetValue(patterns),
                parse.GetValue(maxNewTokens),
                parse.GetValue(kv),
                parse.GetValue(kvDirectory),
                parse.GetValue(jobId),
                parse.GetValue(concurrency),
                target.Read(parse),
                parse.GetValue(embedded),
                parse.GetValue(threads),
                parse.GetValue(cache)!),
            cancellationToken)));
        return command;
    }

    private static async Task<int> SubmitAsync(Settings settings, CancellationToken cancellationToken)
    {
        if (settings.ChunkTokens < 1 || settings.Concurrency < 1 || settings.Threads < 1)
        {
            throw new CommandUsageException($"--chunk ({settings.ChunkTokens}), --concurrency ({settings.Concurrency}) and --threads ({settings.Threads}) must each be at least 1");
        }

        if (settings.MaxNewTokens is < 0 or > JobSubmission.MaxNewTokensLimit)
        {
            throw new CommandUsageException($"--max-new-tokens {settings.MaxNewTokens} must be between 0 and {JobSubmission.MaxNewTokensLimit}");
        }

        if ((settings.Kv == KvRetention.Export) != (settings.KvDirectory is not null))
        {
            throw new CommandUsageException($"--kv-dir ({settings.KvDirectory?.FullName ?? "none"}) goes with --kv export and only with it (--kv is {settings.Kv})");
        }

        var directory = settings.Model?.FullName ?? RunCommand.EnsureGeneratedModel(settings.Cache.FullName, Shared.Generation.ModelShapes.Tiny, RunCommand.DefaultModelSeed, cancellationToken);
        var tokenizer = RunCommand.OpenTokenizer(directory);
        var patternConfig = settings.Patterns switch
        {
            null => null,
            JobSubmission.DensePatternConfig => JobSubmission.DensePatternConfig,
            var file => await File.ReadAllTextAsync(file, cancellationToken),
        };
        var documents = await ReadDocumentsAsync(settings, tokenizer, cancellationToken);
        var longest = documents.Max(d => d.Tokens.Length);

        EmbeddedCluster? local = null;
        MInferenceClient client;
        if (settings.Embedded)
        {
            local = await EmbeddedClusterRun.StartAsync(settings.Threads, longest + settings.MaxNewTokens, settings.ChunkTokens, cancellationToken);
            client = local.Client;
        }
        else
        {
            client = await settings.Target.ConnectAsync(cancellationToken);
        }

        try
        {
            await client.RegisterModelAsync(settings.ModelId, directory, cancellationToken);
            var batch = documents.Select(d => new BatchDocument(
                d.JobId, new JobSubmission(settings.ModelId, d.Tokens, settings.ChunkTokens, RunCommand.TopTokens, settings.Stages, PatternConfig: patternConfig, DynamicChunks: settings.DynamicChunks, MaxNewTokens: settings.MaxNewTokens,
                    KvRetention: settings.Kv, KvExportDirectory: settings.KvDirectory?.FullName))).ToList();
            if (!Directory.Exists(settings.Path ?? string.Empty))
            {
                var submitted = await client.SubmitAsync(batch[0].JobId, batch[0].Submission, cancellationToken);
                AnsiConsole.MarkupLine($"job [bold]{Markup.Escape(batch[0].JobId)}[/]: {submitted.State}, {documents[0].Tokens.Length} tokens, model '{Markup.Escape(settings.ModelId)}'");
                var final = await JobConsole.WatchAsync(client, batch[0].JobId, cancellationToken);
                var exit = await JobConsole.PrintOutcomeAsync(client, final, tokenizer, cancellationToken);
                await PrintKvAsync(client, final, settings, cancellationToken);
                return exit;
            }

            return await RunBatchAsync(client, batch, documents, settings.Concurrency, tokenizer, cancellationToken);
        }
        finally
        {
            if (local is not null)
            {
                await local.DisposeAsync();
            }
            else
            {
                await client.DisposeAsync();
            }
        }
    }

    /// <summary>Where a completed job's KV went: the exported files' folder, or that the stages still hold it.</summary>
    private static async Task PrintKvAsync(MInferenceClient client, JobProgress final, Settings settings, CancellationToken cancellationToken)
    {
        if (final.State != JobState.Completed || settings.Kv == KvRetention.Release)
        {
            return;
        }

        if (settings.Kv == KvRetention.Export)
        {
            var files = (await client.GetResultAsync(final.JobId, cancellationToken)).KvFiles ?? [];
            AnsiConsole.MarkupLine(string.Create(
                CultureInfo.InvariantCulture, $"KV exported: {files.Count} layer files in [bold]{Markup.Escape(System.IO.Path.GetDirectoryName(files.Count > 0 ? files[0] : string.Empty) ?? string.Empty)}[/]"));
        }
        else if (final.KvRetained)
        {
            AnsiConsole.MarkupLine($"KV kept on stages {Markup.Escape(string.Join(", ", final.StageKeys ?? []))} until released (MInferenceClient.ReleaseKvAsync) or `minference cancel {Markup.Escape(final.JobId)}`");
        }
    }

    private static async Task<int> RunBatchAsync(
        MInferenceClient client, List<BatchDocument> batch, List<Document> documents, int concurrency, ITextTokenizer tokenizer, CancellationToken cancellationToken)
    {
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"batch of {batch.Count} documents, {concurrency} at a time"));
        var names = documents.ToDictionary(d => d.JobId, d => d.Name ?? d.JobId, StringComparer.Ordinal);
        var failed = 0;
        await foreach (var outcome in client.SubmitBatchAsync(batch, concurrency, cancellationToken))
        {
            var name = Markup.Escape(names[outcome.JobId]);
            if (outcome.Result is { } result)
            {
                var top = result.TopTokens[0];
                AnsiConsole.MarkupLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"[green]done[/]   {name}: {result.Timings.TokensPerSecond:F0} tokens/s, {result.Stages.Count} stages, next token {Markup.Escape(RunCommand.TokenText(tokenizer, top.TokenId))} ({top.Probability:P1}) [grey]job {Markup.Escape(outcome.JobId)}[/]"));
            }
            else
            {
                failed++;
                AnsiConsole.MarkupLine($"[red]failed[/] {name}: {Markup.Escape(outcome.Error?.Message ?? "no error recorded")} [grey]job {Markup.Escape(outcome.JobId)}[/]");
            }
        }

        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"{batch.Count - failed} of {batch.Count} documents completed"));
        return failed == 0 ? 0 : CommandErrors.BadInput;
    }

    private static async Task<List<Document>> ReadDocumentsAsync(Settings settings, ITextTokenizer tokenizer, CancellationToken cancellationToken)
    {
        var id = settings.JobId ?? "job-" + Guid.NewGuid().ToString("N");
        if (settings.Path is null)
        {
            if (settings.Tokens < 1)
            {
                throw new CommandUsageException($"--tokens ({settings.Tokens}) must be at least 1");
            }

            return [new Document(id, null, RunCommand.BuildDocument(tokenizer, settings.Tokens))];
        }

        if (File.Exists(settings.Path))
        {
            return [new Document(id, Path.GetFileName(settings.Path), tokenizer.Encode(await File.ReadAllTextAsync(settings.Path, cancellationToken)))];
        }

        if (!Directory.Exists(settings.Path))
        {
            throw new FileNotFoundException($"'{settings.Path}' is neither a file nor a folder");
        }

        var files = Directory.GetFiles(settings.Path, "*.txt").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            throw new FileNotFoundException($"folder '{settings.Path}' holds no *.txt documents");
        }

        var documents = new List<Document>(files.Count);
        foreach (var file in files)
        {
            var name = Path.GetFileName(file);
            documents.Add(new Document($"{id}-{Path.GetFileNameWithoutExtension(file)}", name, tokenizer.Encode(await File.ReadAllTextAsync(file, cancellationToken))));
        }

        return documents;
    }

    private sealed record Document(string JobId, string? Name, int[] Tokens);

    private sealed record Settings(
        string? Path,
        DirectoryInfo? Model,
        string ModelId,
        int Tokens,
        int ChunkTokens,
        bool DynamicChunks,
        int? Stages,
        string? Patterns,
        int MaxNewTokens,
        KvRetention Kv,
        DirectoryInfo? KvDirectory,
        string? JobId,
        int Concurrency,
        ClusterTarget Target,
        bool Embedded,
        int Threads,
        DirectoryInfo Cache);
}
