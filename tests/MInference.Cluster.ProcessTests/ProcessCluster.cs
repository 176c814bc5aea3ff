using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MInference.Client;
using MInference.Shared.Generation;
using MInference.Shared.Networking;
using Orleans.Configuration;
using StackExchange.Redis;

namespace MInference.Cluster.ProcessTests;

/// <summary>
/// A redis-server, N standalone silo processes with Redis clustering and job storage, the generated
/// <c>tiny</c> model, and Orleans clients in the test process. Everything it started is killed on
/// dispose, and every process's output goes to the test log.
/// </summary>
internal sealed class ProcessCluster : IAsyncDisposable
{
    public const string ModelId = "tiny";

    public const ulong ModelSeed = 20261123;

    /// <summary>Generous: a silo's start on a busy 2-core machine (JIT, Redis, membership) can take tens of seconds.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    private readonly string _root = Path.Combine(Path.GetTempPath(), "minference-process-tests-" + Guid.NewGuid().ToString("N"));
    private readonly List<ChildProcess> _processes = [];
    private readonly List<IHost> _clients = [];
    private readonly Dictionary<string, ChildProcess> _running = new(StringComparer.Ordinal);

    private ProcessCluster(RedisServer redis, IReadOnlyList<SiloProcess> silos)
    {
        Redis = redis;
        Silos = silos;
        ClusterId = "test-" + Guid.NewGuid().ToString("N")[..12];
        ModelGenerator.Generate(ModelShapes.Get(ModelShapes.Tiny), ModelDirectory, ModelSeed);
    }

    public RedisServer Redis { get; }

    public IReadOnlyList<SiloProcess> Silos { get; }

    public string ClusterId { get; }

    public string ModelDirectory => Path.Combine(_root, ModelId);

    /// <summary>Starts redis-server (or skips the test when it is not installed) and reserves the silos' ports.</summary>
    public static async Task<ProcessCluster> CreateAsync(int siloCount, CancellationToken cancellationToken)
    {
        var redis = await RedisServer.StartOrSkipAsync(StartTimeout, cancellationToken);
        var ports = LoopbackPorts.TakeFree(2 * siloCount);
        var silos = Enumerable.Range(0, siloCount).Select(i => new SiloProcess($"silo{i}", ports[2 * i], ports[(2 * i) + 1])).ToArray();
        var cluster = new ProcessCluster(redis, silos);
        cluster._processes.Add(redis.Process);
        return cluster;
    }

    /// <summary>Starts the named silos (all when none named) together and waits until each has registered its devices.</summary>
    public Task StartSilosAsync(CancellationToken cancellationToken, params string[] names)
        => StartSilosAsync([], cancellationToken, names);

    /// <summary>As <see cref="StartSilosAsync(CancellationToken, string[])"/>, with extra <c>--MInference:...</c> arguments for every silo.</summary>
    public async Task StartSilosAsync(string[] settings, CancellationToken cancellationToken, params string[] names)
    {
        var models = new Dictionary<string, string> { [ModelId] = ModelDirectory };
        var started = Silos.Where(s => names.Length == 0 || names.Contains(s.Name)).Select(s =>
        {
            var process = s.Start(Redis.ConnectionString, ClusterId, models, settings);
            _processes.Add(process);
            _running[s.Name] = process;
            return process;
        }).ToList();
        await Task.WhenAll(started.Select(p => p.WaitReadyAsync(StartTimeout, cancellationToken)));
    }

    /// <summary>The running process of silo <paramref name="name"/>.</summary>
    public ChildProcess Running(string name) => _running[name];

    /// <summary>Kills a silo process outright (no drain, no goodbye to the cluster).</summary>
    public async Task KillSiloAsync(string name)
    {
        if (_running.Remove(name, out var process))
        {
            await process.KillAsync();
        }
    }

    /// <summary>Stops a silo process gracefully (SIGTERM) and returns it, exited, for its log.</summary>
    public async Task<ChildProcess> TerminateSiloAsync(string name, CancellationToken cancellationToken)
    {
        var process = _running[name];
        await process.TerminateAsync(cancellationToken);
        _running.Remove(name);
        return process;
    }

    public async Task KillAllSilosAsync()
    {
        foreach (var name in _running.Keys.ToList())
        {
            await KillSiloAsync(name);
        }
    }

    /// <summary>A client in this process that finds the gateways through Redis, as a separate application would.</summary>
    public async Task<MInferenceClient> ConnectClientAsync(CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client => client
            .UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(Redis.ConnectionString))
            .Configure<ClusterOptions>(o =>
            {
                o.ClusterId = ClusterId;
                o.ServiceId = ClusterId;
            }));
        var host = builder.Build();
        _clients.Add(host);
        await host.StartAsync(cancellationToken);
        return new MInferenceClient(host.Services.GetRequiredService<IClusterClient>());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            try
            {
                await client.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            }
#pragma warning disable CA1031 // A client of a dead cluster may fail to stop cleanly; the processes must still be killed.
            catch (Exception)
#pragma warning restore CA1031
            {
            }

            client.Dispose();
        }

        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        // xunit shows this output for failed tests: every process's last lines.
        foreach (var process in _processes)
        {
            TestContext.Current.TestOutputHelper?.WriteLine(process.Tail());
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // A killed child may still hold a file for a moment; the temp folder is cleaned by the OS.
        }
    }
}
