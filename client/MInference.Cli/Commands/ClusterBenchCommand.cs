using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MInference.Client;
using MInference.Shared.Contracts;
using MInference.Shared.Generation;
using MInference.Shared.Networking;
using MInference.Silo.DataPlane;
using Spectre.Console;

namespace MInference.Cli.Commands;

/// <summary>
/// <c>minference bench cluster</c>: real Orleans silos in this process on loopback. One job's wall time on
/// a 1-silo cluster (one stage) against a 3-silo cluster (one stage per silo, so every chunk crosses two
/// silo boundaries over the TCP data plane), and the cost of one such hop per chunk size, timed on the
/// silos' own data planes (publish on one silo, pull from another) with activations of the model's width.
/// </summary>
public static class ClusterBenchCommand
{
    public const ulong DefaultSeed = 20261123;

    private const string ModelId = "bench";

    /// <summary>Timed hops per chunk size (the median is reported).</summary>
    private const int DefaultHopRepeats = 5;

    /// <summary>Tokens of the untimed warm-up job: loads every stage's layers before the timed one.</summary>
    private const int WarmUpTokens = 256;

    /// <summary>How long the silos get to join and register their devices.</summary>
    private static readonly TimeSpan _joinTimeout = TimeSpan.FromSeconds(60);

    private static readonly JsonSerializerOptions _jsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static Command Create()
    {
        var shape = new Option<string>("--shape") { Description = $"Generated model shape ({string.Join(", ", ModelShapes.Names)})", DefaultValueFactory = _ => ModelShapes.Small };
        var chunks = new Option<string>("--chunks") { Description = "Chunk sizes of the hop measurement, comma-separated, K = 1024", DefaultValueFactory = _ => "1K,2K,4K,8K,16K" };
        var tokens = new Option<int>("--tokens") { Description = "Tokens of the timed job", DefaultValueFactory = _ => 4096 };
        var jobChunk = new Option<int>("--job-chunk") { Description = "Tokens per chunk of the timed job", DefaultValueFactory = _ => 1024 };
        var repeats = new Option<int>("--repeats") { Description = "Timed hops per chunk size (the median is reported)", DefaultValueFactory = _ => DefaultHopRepeats };
        var threads = new Option<int>("--threads") { Description = "Worker threads of each silo's CPU device", DefaultValueFactory = _ => Environment.ProcessorCount };
        var cache = new Option<DirectoryInfo>("--cache") { Description = "Where generated models are kept", DefaultValueFactory = _ => new DirectoryInfo(RunCommand.DefaultCacheDirectory()) };
        var json = new Option<FileInfo?>("--json") { Description = "Also write the results to this JSON file" };
        var command = new Command("cluster", "One job through 1 vs 3 in-process silos, and the cost of a chunk's hop between silos over the TCP data plane")
        {
            shape, chunks, tokens, jobChunk, repeats, threads, cache, json,
        };
        command.SetAction((parse, cancellationToken) => ClusterConnection.RunAsync(() => RunAsync(
            parse.GetValue(shape)!,
            ParseChunks(parse.GetValue(chunks)!),
            parse.GetValue(tokens),
            parse.GetValue(jobChunk),
            parse.GetValue(repeats),
            parse.GetValue(threads),
            parse.GetValue(cache)!,
            parse.GetValue(json),
            cancellationToken)));
        return command;
    }

    private static int[] ParseChunks(string text)
    {
        try
        {
            return PrefillBenchCommand.ParseLengths(text);
        }
        catch (CommandUsageException e)
        {
            throw new CommandUsageException("--chunks" + e.Message["--lengths".Length..]);
        }
    }

    private static async Task<int> RunAsync(string shape, int[] chunkSizes, int tokens, int jobChunk, int repeats, int threads, DirectoryInfo cache, FileInfo? json, CancellationToken cancellationToken)
    {
        if (tokens < 1 || jobChunk < 1 || repeats < 1 || threads < 1)
        {
            throw new CommandUsageException($"--tokens ({tokens}), --job-chunk ({jobChunk}), --repeats ({repeats}) and --threads ({threads}) must each be at least 1");
        }

        var spec = ModelShapes.Get(shape);
        var directory = RunCommand.EnsureGeneratedModel(cache.FullName, shape, RunCommand.DefaultModelSeed, cancellationToken);
        var tokenizer = RunCommand.OpenTokenizer(directory);
        var document = RunCommand.BuildDocument(tokenizer, tokens);
        var warmUp = RunCommand.BuildDocument(tokenizer, Math.Min(WarmUpTokens, tokens));
        var maxTokens = Math.Max(tokens, chunkSizes.Max());
        AnsiConsole.MarkupLine(string.Create(
            CultureInfo.InvariantCulture,
            $"[bold]`{Markup.Escape(shape)}`[/] ({spec.LayerCount} layers, hidden {spec.HiddenSize}); job: {tokens} tokens in chunks of {jobChunk}; {threads} threads per silo device; {Environment.ProcessorCount} cores"));

        var jobs = new List<JobMeasurement>();
        foreach (var siloCount in new[] { 1, 3 })
        {
            await using var cluster = await InProcessCluster.StartAsync(siloCount, threads, maxTokens, Math.Max(jobChunk, WarmUpTokens), cancellationToken);
            await cluster.Client.RegisterModelAsync(ModelId, directory, cancellationToken);
            await RunJobAsync(cluster.Client, warmUp, jobChunk, siloCount, cancellationToken);
            var (fetchedBefore, bytesBefore) = cluster.TcpCounters();
            var watch = Stopwatch.StartNew();
            var stages = await RunJobAsync(cluster.Client, document, jobChunk, siloCount, cancellationToken);
            watch.Stop();
            var (fetchedAfter, bytesAfter) = cluster.TcpCounters();
            jobs.Add(new JobMeasurement(siloCount, stages, tokens, jobChunk, watch.Elapsed.TotalSeconds, fetchedAfter - fetchedBefore, bytesAfter - bytesBefore));
        }

        var jobTable = new Table().AddColumns("silos", "stages", "tokens", "chunk", "seconds", "tokens/s", "TCP hops", "TCP MB");
        foreach (var job in jobs)
        {
            jobTable.AddRow(
                $"{job.Silos}",
                $"{job.Stages}",
                $"{job.Tokens}",
                $"{job.ChunkTokens}",
                job.Seconds.ToString("F2", CultureInfo.InvariantCulture),
                job.TokensPerSecond.ToString("F0", CultureInfo.InvariantCulture),
                $"{job.TcpTransfers}",
                (job.TcpBytes / 1e6).ToString("F1", CultureInfo.InvariantCulture));
        }

        AnsiConsole.MarkupLine("[bold]One job, 1 silo vs 3 silos[/] (wall time from submit to result, after a warm-up job loaded the layers)");
        AnsiConsole.Write(jobTable);

        var hops = await MeasureHopsAsync(chunkSizes, spec.HiddenSize, repeats, maxTokens, threads, cancellationToken);
        var hopTable = new Table().AddColumns("chunk tokens", "MB", "median ms", "min ms", "MB/s");
        foreach (var hop in hops)
        {
            hopTable.AddRow(
                $"{hop.ChunkTokens}",
                (hop.Bytes / 1e6).ToString("F1", CultureInfo.InvariantCulture),
                hop.MedianMilliseconds.ToString("F2", CultureInfo.InvariantCulture),
                hop.MinMilliseconds.ToString("F2", CultureInfo.InvariantCulture),
                hop.MegabytesPerSecond.ToString("F0", CultureInfo.InvariantCulture));
        }

        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"[bold]One hop between silos[/] (f32 activations, {spec.HiddenSize} wide: publish on silo 0's data plane, pull over TCP by silo 1's, median of {repeats})"));
        AnsiConsole.Write(hopTable);

        if (json is not null)
        {
            var report = new
            {
                date = DateTimeOffset.UtcNow,
                shape,
                layers = spec.LayerCount,
                hidden = spec.HiddenSize,
                processors = Environment.ProcessorCount,
                threads_per_device = threads,
                jobs,
                hops,
            };
            await File.WriteAllTextAsync(json.FullName, JsonSerializer.Serialize(report, _jsonOptions), cancellationToken);
            AnsiConsole.MarkupLine($"wrote [green]{Markup.Escape(json.FullName)}[/]");
        }

        return 0;
    }

    /// <summary>Runs one job with one stage per silo and returns its stage count; a failed job throws <see cref="JobFailedException"/>.</summary>
    private static async Task<int> RunJobAsync(MInferenceClient client, int[] document, int chunkTokens, int stageCount, CancellationToken cancellationToken)
    {
        var jobId = "bench-cluster-" + Guid.NewGuid().ToString("N");
        await client.SubmitAsync(jobId, new JobSubmission(ModelId, document, chunkTokens, StageCount: stageCount, PatternConfig: JobSubmission.DensePatternConfig), cancellationToken);
        await client.GetResultAsync(jobId, cancellationToken);
        var progress = await client.GetProgressAsync(jobId, cancellationToken);
        return progress.StageKeys?.Count ?? stageCount;
    }

    /// <summary>
    /// Times hops on a 2-silo cluster: silo 0 parks a chunk's activations, silo 1 pulls them over TCP (the
    /// path a stage's output takes to the next stage on another silo). The first hop of each size is
    /// untimed and checked byte for byte.
    /// </summary>
    private static async Task<List<HopMeasurement>> MeasureHopsAsync(int[] chunkSizes, int hidden, int repeats, int maxTokens, int threads, CancellationToken cancellationToken)
    {
        await using var cluster = await InProcessCluster.StartAsync(2, threads, maxTokens, 1, cancellationToken);
        var source = cluster.DataPlane(0);
        var target = cluster.DataPlane(1);
        var random = new Random(unchecked((int)DefaultSeed));
        var results = new List<HopMeasurement>();
        foreach (var tokens in chunkSizes)
        {
            var values = new float[(long)tokens * hidden];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = (float)(random.NextDouble() * 2 - 1);
            }

            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
            var samples = new List<double>();
            for (var attempt = 0; attempt <= repeats; attempt++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var watch = Stopwatch.StartNew();
                var ticket = await source.PublishAsync("bench-hop", attempt, tokens, hidden, bytes, cancellationToken);
                using var payload = await target.FetchAsync(ticket, cancellationToken);
                watch.Stop();
                if (attempt == 0)
                {
                    if (!payload.Bytes.Span.SequenceEqual(bytes))
                    {
                        throw new InvalidOperationException($"the data plane delivered different bytes for a {tokens}-token chunk ({bytes.Length} bytes)");
                    }
                }
                else
                {
                    samples.Add(watch.Elapsed.TotalMilliseconds);
                }
            }

            samples.Sort();
            results.Add(new HopMeasurement(tokens, bytes.LongLength, samples[samples.Count / 2], samples[0]));
        }

        return results;
    }

    /// <summary>One job: silos, stages, the document and its wall time, and the TCP transfers the silos fetched meanwhile.</summary>
    private sealed record JobMeasurement(int Silos, int Stages, int Tokens, int ChunkTokens, double Seconds, long TcpTransfers, long TcpBytes)
    {
        public double TokensPerSecond => Tokens / Seconds;
    }

    /// <summary>One chunk size's hop: bytes moved and the median and fastest time of publish + pull.</summary>
    private sealed record HopMeasurement(int ChunkTokens, long Bytes, double MedianMilliseconds, double MinMilliseconds)
    {
        public double MegabytesPerSecond => Bytes / 1e6 / (MedianMilliseconds / 1000);
    }

    /// <summary>
    /// Silos hosted in this process, each with its own host and one CPU device, joined by localhost
    /// clustering on free loopback ports (the first is the primary), and a client on the first.
    /// </summary>
    private sealed class InProcessCluster(List<IHost> hosts, MInferenceClient client) : IAsyncDisposable
    {
        public MInferenceClient Client { get; } = client;

        public static async Task<InProcessCluster> StartAsync(int siloCount, int threads, int maxTokens, int maxChunkTokens, CancellationToken cancellationToken)
        {
            var hosts = new List<IHost>();
            var cluster = new InProcessCluster(hosts, null!);
            try
            {
                IPEndPoint? primary = null;
                for (var i = 0; i < siloCount; i++)
                {
                    var siloPort = LoopbackPorts.TakeFree();
                    var name = $"bench-{i}";
                    var builder = Host.CreateApplicationBuilder();
                    builder.Logging.ClearProviders();
                    builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
                    builder.Logging.AddFilter("Orleans", LogLevel.Error);
                    EmbeddedClusterRun.UseEmbeddedSilo(builder, name, siloPort, primary, threads, maxTokens, maxChunkTokens);
                    var host = builder.Build();
                    hosts.Add(host);
                    await host.StartAsync(cancellationToken);
                    primary ??= new IPEndPoint(IPAddress.Loopback, siloPort);
                }

                var client = new MInferenceClient(hosts[0].Services.GetRequiredService<IClusterClient>());
                await WaitForDevicesAsync(hosts, client, cancellationToken);
                return new InProcessCluster(hosts, client);
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        public SiloDataPlane DataPlane(int silo) => hosts[silo].Services.GetRequiredService<SiloDataPlane>();

        /// <summary>TCP transfers and bytes all silos have fetched since start.</summary>
        public (long Transfers, long Bytes) TcpCounters()
        {
            var planes = hosts.Select(h => h.Services.GetRequiredService<SiloDataPlane>()).ToList();
            return (planes.Sum(p => p.FetchedTransfers), planes.Sum(p => p.FetchedBytes));
        }

        public async ValueTask DisposeAsync()
        {
            // Later silos first: the primary holds the membership the others leave through.
            for (var i = hosts.Count - 1; i >= 0; i--)
            {
                await hosts[i].StopAsync(CancellationToken.None);
                hosts[i].Dispose();
            }
        }

        /// <summary>
        /// Joining silos register their devices with the coordinator as they start; wait until each one has.
        /// A registration lost to a second coordinator activation while membership settles is repeated by
        /// the silo's own registrar within <see cref="Silo.Hosting.DeviceRegistrar.RefreshInterval"/>.
        /// </summary>
        private static async Task WaitForDevicesAsync(List<IHost> hosts, MInferenceClient client, CancellationToken cancellationToken)
        {
            var deadline = Stopwatch.StartNew();
            var names = hosts.Select(h => h.Services.GetRequiredService<ILocalSiloDetails>().Name).ToList();
            while (true)
            {
                var devices = await client.GetDevicesAsync(cancellationToken);
                var missing = names.Where(n => !devices.Any(d => string.Equals(d.SiloName, n, StringComparison.Ordinal))).ToList();
                if (missing.Count == 0)
                {
                    return;
                }

                if (deadline.Elapsed > _joinTimeout)
                {
                    throw new ClusterUnavailableException($"in-process silos {string.Join(", ", missing)} had no devices registered after {_joinTimeout.TotalSeconds} s");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
            }
        }
    }
}
