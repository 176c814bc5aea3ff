using System.CommandLine;
using System.Globalization;
using MInference.Client;

namespace MInference.Cli.Commands;

/// <summary>The <c>--gateway host:port</c> option the cluster commands share, and connecting through it.</summary>
internal static class ClusterConnection
{
    public const string DefaultGateway = "localhost:30000";

    public static Option<string> CreateGatewayOption() => new("--gateway", "--gateway-port")
    {
        Description = "Gateway of a running silo: host:port, or a port on localhost",
        DefaultValueFactory = _ => DefaultGateway,
    };

    /// <summary>Connects to the gateway; a malformed value is a usage error, an unreachable one <see cref="ClusterUnavailableException"/>.</summary>
    public static Task<MInferenceClient> ConnectAsync(string gateway, CancellationToken cancellationToken)
    {
        var (host, port) = Parse(gateway);
        var builder = new MInferenceClientBuilder();
        builder = host is "localhost" or "127.0.0.1" ? builder.UseLocalhostGateway(port) : builder.UseGateway(host, port);
        return builder.ConnectAsync(cancellationToken);
    }

    public static (string Host, int Port) Parse(string gateway)
    {
        ArgumentNullException.ThrowIfNull(gateway);
        var colon = gateway.LastIndexOf(':');
        var host = colon < 0 ? "localhost" : gateway[..colon].Trim('[', ']');
        var portText = colon < 0 ? gateway : gateway[(colon + 1)..];
        if (host.Length == 0 || !int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new CommandUsageException($"--gateway '{gateway}' is not host:port (or a port) with a port 1..65535");
        }

        return (host, port);
    }

    /// <summary>Runs a cluster command with the CLI's error policy plus the SDK's typed errors: exit 1 for bad input, 3 when the cluster is unavailable.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (ClusterUnavailableException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return ClusterUnavailable;
        }
        catch (JobFailedException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return CommandErrors.BadInput;
        }
        catch (Exception e) when (CommandErrors.IsUserError(e))
        {
            return CommandErrors.Report(e);
        }
    }

    /// <summary>Exit code when no gateway answered.</summary>
    public const int ClusterUnavailable = 3;
}
