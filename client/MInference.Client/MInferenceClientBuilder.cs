using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MInference.Client;

/// <summary>Builds a <see cref="MInferenceClient"/> with its own Orleans client connected to a cluster.</summary>
public sealed class MInferenceClientBuilder
{
    public const int DefaultGatewayPort = 30000;

    private int _gatewayPort = DefaultGatewayPort;

    /// <summary>Connect to a silo on this machine (localhost clustering) through its gateway port.</summary>
    public MInferenceClientBuilder UseLocalhostGateway(int gatewayPort = DefaultGatewayPort)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(gatewayPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(gatewayPort, 65535);
        _gatewayPort = gatewayPort;
        return this;
    }

    /// <summary>Starts the Orleans client and connects; throws when no gateway answers.</summary>
    public async Task<MInferenceClient> ConnectAsync(CancellationToken cancellationToken = default)
    {
        var builder = Host.CreateApplicationBuilder();
        // A client is a guest in the caller's console: Orleans' own start-up chatter stays out of it.
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client => client.UseLocalhostClustering(_gatewayPort));
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            return new MInferenceClient(host.Services.GetRequiredService<IClusterClient>(), host);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }
}
