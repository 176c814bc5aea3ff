using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MInference.Client;
using MInference.Shared.Contracts;
using MInference.Shared.Generation;
using MInference.Shared.Networking;
using MInference.Silo.Hosting;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference run</c>: the same document as <c>run</c>, submitted as a job to a
/// single-silo cluster hosted in this process (localhost clustering on free ports; the silo's default
/// device discovery: the machine's CUDA devices when there are any, else one CPU device).
/// </summary>
internal static class EmbeddedClusterRun
{
    public const string SiloName = "embedded";

    public const string ModelId = "default";

    public static async Task<int> RunAsync(
        DirectoryInfo? model, int tokenCount, int chunkTokens, int threads, DirectoryInfo cache, FileInfo? patternConfig, int maxNewTokens, CancellationToken cancellationToken)
    {
        if (tokenCount < 1 || chunkTokens < 1 || threads < 1)
        {
            AnsiConsole.MarkupLine($"[red]--tokens ({tokenCount}), --chunk ({chunkTokens}) and --threads ({threads}) must each be at least 1[/]");
            return 2;
        }

        if (maxNewTokens is < 0 or > JobSubmission.MaxNewTokensLimit)
        {
            AnsiConsole.MarkupLine($"[red]--max-new-tokens {maxNewTokens} must be between 0 and {JobSubmission.MaxNewTokensLimit}[/]");
            return 2;
        }

        var directory = model?.FullName ?? RunCommand.EnsureGeneratedModel(cache.FullName, ModelShapes.Tiny, RunCommand.DefaultModelSeed, cancellationToken);
        var tokenizer = RunCommand.OpenTokenizer(directory);
        var document = RunCommand.BuildDocument(tokenizer, tokenCount);
        // The job carries the config's JSON; the coordinator validates it against the model at submission.
        var patterns = patternConfig is null ? null : await File.ReadAllTextAsync(patternConfig.FullName, cancellationToken);

        await using var cluster = await StartAsync(threads, tokenCount + maxNewTokens, chunkTokens, cancellationToken);
        var client = cluster.Client;
        var registered = await client.RegisterModelAsync(ModelId, directory, cancellationToken);
        var devices = await client.GetDevicesAsync(cancellationToken);
        AnsiConsole.MarkupLine(
            $"[bold]{Markup.Escape(registered.Architecture)}[/] {registered.LayerCount} layers from [grey]{Markup.Escape(directory)}[/] on an embedded cluster (silo '{SiloName}', {Markup.Escape(DescribeDevices(devices))})");
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"document: {document.Length} tokens in chunks of {chunkTokens}"));
        var jobId = "run-" + Guid.NewGuid().ToString("N");
        await client.SubmitAsync(jobId, new JobSubmission(ModelId, document, chunkTokens, RunCommand.TopTokens, PatternConfig: patterns, MaxNewTokens: maxNewTokens), cancellationToken);
        var final = await JobConsole.WatchAsync(client, jobId, cancellationToken);
        return await JobConsole.PrintOutcomeAsync(client, final, tokenizer, cancellationToken);
    }

    /// <summary>
    /// What the silo offers, as its device discovery decided: "1 cuda device: NVIDIA H100 80GB HBM3, 79.1 GiB"
    /// on a GPU machine, "1 cpu device: cpu0 (2 threads)" otherwise.
    /// </summary>
    internal static string DescribeDevices(IReadOnlyList<DeviceDescriptor> devices)
    {
        if (devices.Count == 0)
        {
            return "no devices registered";
        }

        var kinds = string.Join(" + ", devices.GroupBy(d => d.Kind).Select(g => string.Create(
            CultureInfo.InvariantCulture, $"{g.Count()} {g.Key} device{(g.Count() == 1 ? "" : "s")}")));
        var names = string.Join("; ", devices.Select(d => d.Kind == DeviceDescriptor.CpuKind
            ? d.Name
            : string.Create(CultureInfo.InvariantCulture, $"{d.Name}, {d.MemoryBytes / (double)(1L << 30):F1} GiB")));
        return $"{kinds}: {names}";
    }

    /// <summary>
    /// Starts a single-silo cluster in this process (localhost clustering on free ports; CUDA devices when
    /// the machine has them, else one CPU device of <paramref name="threads"/> threads) that accepts
    /// documents of <paramref name="maxTokens"/> tokens.
    /// </summary>
    public static async Task<EmbeddedCluster> StartAsync(int threads, int maxTokens, int maxChunkTokens, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
        // The silo warns at every start that server GC is off; the CLI turns it off on purpose (its
        // csproj), so in this one-process mode that warning is only noise.
        builder.Logging.AddFilter("Orleans.Runtime.Silo", LogLevel.Error);
        UseEmbeddedSilo(builder, SiloName, LoopbackPorts.TakeFree(), primary: null, threads, maxTokens, maxChunkTokens);
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch
        {
            host.Dispose();
            throw;
        }

        return new EmbeddedCluster(host, new MInferenceClient(host.Services.GetRequiredService<IClusterClient>()));
    }

    /// <summary>
    /// Makes <paramref name="builder"/> host an in-process silo named <paramref name="siloName"/> with
    /// localhost clustering (silo port <paramref name="siloPort"/>, a free gateway port, joining
    /// <paramref name="primary"/> when given) and the default device discovery (the machine's CUDA devices,
    /// else one CPU device of <paramref name="threads"/> threads) that accepts documents of
    /// <paramref name="maxTokens"/> tokens and chunks of <paramref name="maxChunkTokens"/>.
    /// The embedded run and the in-process cluster bench start their silos this way.
    /// </summary>
    internal static void UseEmbeddedSilo(
        HostApplicationBuilder builder, string siloName, int siloPort, IPEndPoint? primary, int threads, int maxTokens, int maxChunkTokens)
    {
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(siloPort, LoopbackPorts.TakeFree(), primary)
            .Configure<Orleans.Configuration.SiloOptions>(o => o.SiloName = siloName)
            .AddMInference(configure: o =>
            {
                o.SiloName = siloName;
                o.CpuDevices = 1;
                o.CpuThreadsPerDevice = threads;
                o.MaxDocumentTokens = Math.Max(o.MaxDocumentTokens, maxTokens);
                o.MaxChunkTokens = Math.Max(o.MaxChunkTokens, maxChunkTokens);
            }));
    }
}

/// <summary>A single-silo cluster hosted in this process and a client on it; disposing stops the silo.</summary>
internal sealed class EmbeddedCluster(IHost host, MInferenceClient client) : IAsyncDisposable
{
    public MInferenceClient Client { get; } = client;

    public async ValueTask DisposeAsync()
    {
        await host.StopAsync(CancellationToken.None);
        host.Dispose();
    }
}
