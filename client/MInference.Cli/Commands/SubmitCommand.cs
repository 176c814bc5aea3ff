using System.CommandLine;
using MInference.Client;
using MInference.Shared.Contracts;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference submit [FILE]</c>: registers a model with a silo running on this machine, submits a
/// text file (tokenized with the model's tokenizer) or a generated document as a job, watches it and
/// prints the result.
/// </summary>
public static class SubmitCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo?>("file") { Description = "A UTF-8 text file to pre-fill (default: a generated document of --tokens tokens)", Arity = ArgumentArity.ZeroOrOne };
        var model = new Option<DirectoryInfo?>("--model") { Description = "Model directory, readable by the silo (default: the generated tiny model in --cache)" };
        var modelId = new Option<string>("--model-id") { Description = "Id to register the model under", DefaultValueFactory = _ => "default" };
        var tokens = new Option<int>("--tokens") { Description = "Length of the generated document when no file is given", DefaultValueFactory = _ => RunCommand.DefaultTokens };
        var chunk = new Option<int>("--chunk") { Description = "Tokens per chunk", DefaultValueFactory = _ => RunCommand.DefaultChunkTokens };
        var stages = new Option<int?>("--stages") { Description = "Pipeline depth (default: as few stages as memory allows)" };
        var jobId = new Option<string?>("--job-id") { Description = "Client-chosen job id; submitting again with the same id and document is idempotent" };
        var gateway = new Option<int>("--gateway-port") { Description = "Gateway port of the silo on localhost", DefaultValueFactory = _ => MInferenceClientBuilder.DefaultGatewayPort };
        var cache = new Option<DirectoryInfo>("--cache") { Description = "Where generated models are kept", DefaultValueFactory = _ => new DirectoryInfo(RunCommand.DefaultCacheDirectory()) };
        var command = new Command("submit", "Submit a document as a job to a silo running on localhost and watch it")
        {
            file, model, modelId, tokens, chunk, stages, jobId, gateway, cache,
        };
        command.SetAction((parse, cancellationToken) => SubmitAsync(
            parse.GetValue(file),
            parse.GetValue(model),
            parse.GetValue(modelId)!,
            parse.GetValue(tokens),
            parse.GetValue(chunk),
            parse.GetValue(stages),
            parse.GetValue(jobId),
            parse.GetValue(gateway),
            parse.GetValue(cache)!,
            cancellationToken));
        return command;
    }

    private static async Task<int> SubmitAsync(
        FileInfo? file, DirectoryInfo? model, string modelId, int tokenCount, int chunkTokens, int? stages, string? jobId, int gatewayPort, DirectoryInfo cache, CancellationToken cancellationToken)
    {
        var directory = model?.FullName ?? RunCommand.EnsureGeneratedModel(cache.FullName, Shared.Generation.ModelShapes.Tiny, RunCommand.DefaultModelSeed, cancellationToken);
        var tokenizer = RunCommand.OpenTokenizer(directory);
        var document = file is null
            ? RunCommand.BuildDocument(tokenizer, tokenCount)
            : tokenizer.Encode(await File.ReadAllTextAsync(file.FullName, cancellationToken));
        await using var client = await new MInferenceClientBuilder().UseLocalhostGateway(gatewayPort).ConnectAsync(cancellationToken);
        await client.RegisterModelAsync(modelId, directory, cancellationToken);
        var id = jobId ?? "job-" + Guid.NewGuid().ToString("N");
        var submitted = await client.SubmitAsync(id, new JobSubmission(modelId, document, chunkTokens, RunCommand.TopTokens, stages), cancellationToken);
        AnsiConsole.MarkupLine($"job [bold]{Markup.Escape(id)}[/]: {submitted.State}, {document.Length} tokens, model '{Markup.Escape(modelId)}'");
        var final = await JobConsole.WatchAsync(client, id, cancellationToken);
        return await JobConsole.PrintOutcomeAsync(client, final, tokenizer, cancellationToken);
    }
}
