using System.Globalization;
using MInference.Shared.Networking;

namespace MInference.Cluster.ProcessTests;

/// <summary>
/// A private redis-server on a free loopback port, nothing saved to disk. Tests skip with the reason when
/// Debian's redis-server is not installed (.ci/run installs it).
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private static readonly string[] _candidates = ["/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"];

    private readonly ChildProcess _process;

    private RedisServer(ChildProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>StackExchange.Redis connection string of this server.</summary>
    public string ConnectionString => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    public ChildProcess Process => _process;

    /// <summary>The redis-server executable, or null when none is installed.</summary>
    public static string? Executable()
        => _candidates.FirstOrDefault(File.Exists)
        ?? (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists);

    /// <summary>Starts a server, or skips the calling test naming what is missing.</summary>
    public static async Task<RedisServer> StartOrSkipAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var executable = Executable();
        if (executable is null)
        {
            Assert.Skip("redis-server is not installed (Debian: apt-get install -y redis-server; .ci/run does this)");
        }

        var port = LoopbackPorts.TakeFree(1)[0];
        var process = ChildProcess.Start(
            "redis-server",
            executable,
            ["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", string.Empty, "--appendonly", "no", "--daemonize", "no"],
            readyMarker: "Ready to accept connections");
        var server = new RedisServer(process, port);
        try
        {
            await process.WaitReadyAsync(timeout, cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
