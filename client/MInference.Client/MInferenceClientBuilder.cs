using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using StackExchange.Redis;

namespace MInference.Client;

/// <summary>Builds a <see cref="MInferenceClient"/> with its own Orleans client connected to a cluster.</summary>
public sealed class MInferenceClientBuilder
{
    public const int DefaultGatewayPort = 30000;


    /// <summary>Tries to reach a gateway before <see cref="ConnectAsync"/> gives up.</summary>
    public const int ConnectAttempts = 3;

    private static readonly TimeSpan _connectRetryDelay = TimeSpan.FromSeconds(1);

    private string? _host;
    private int _gatewayPort = DefaultGatewayPort;
    private string? _clusterId;
    private string? _serviceId;
    private ConfigurationOptions? _redis;

    /// <summary>Connect to a silo on this machine (localhost clustering) through its gateway port.</summary>
    public MInferenceClientBuilder UseLocalhostGateway(int gatewayPort = DefaultGatewayPort)
    {
        CheckPort(gatewayPort);
        _host = null;
        _gatewayPort = gatewayPort;
        _redis = null;
        return this;
    }

    /// <summary>Connect to a silo's gateway at <paramref name="host"/>:<paramref name="gatewayPort"/> (static clustering).</summary>
    public MInferenceClientBuilder UseGateway(string host, int gatewayPort = DefaultGatewayPort)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        CheckPort(gatewayPort);
        _host = host;
        _gatewayPort = gatewayPort;
        _redis = null;
        return this;
    }

    /// <summary>
    /// Find the gateways through Orleans' Redis clustering: the silos of a deployment with
    /// <c>MInference:Clustering=Redis</c> publish their gateway endpoints in Redis under the cluster id, so a
    /// client needs only the Redis connection and the same ids as the silos (<c>MInference:ClusterId</c>,
    /// <c>MInference:ServiceId</c>; both "default" unless the deployment set them). Replaces a gateway set before.
    /// </summary>
    /// <param name="connectionString">StackExchange.Redis configuration: <c>host:port[,password=...]</c>.</param>
    /// <param name="clusterId">The silos' <c>MInference:ClusterId</c>.</param>
    /// <param name="serviceId">The silos' <c>MInference:ServiceId</c>.</param>
    public MInferenceClientBuilder UseRedisClustering(string connectionString, string clusterId, string serviceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ConfigurationOptions parsed;
        try
        {
            parsed = ConfigurationOptions.Parse(connectionString);
        }
        catch (ArgumentException e)
        {
            // The message may echo the string, and with it a password: name only what is wrong.
            throw new ArgumentException($"the Redis connection string is not a StackExchange.Redis configuration: {e.GetType().Name}", nameof(connectionString), e);
        }

        if (parsed.EndPoints.Count == 0)
        {
            throw new ArgumentException("the Redis connection string names no host:port endpoint", nameof(connectionString));
        }

        UseClusterId(clusterId, serviceId);
        _redis = parsed;
        _host = null;
        return this;
    }

    /// <summary>The cluster's ids (they must match the silos'); by default Orleans' defaults, as the localhost silo host uses.</summary>
    public MInferenceClientBuilder UseClusterId(string clusterId, string serviceId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(clusterId);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceId);
        _clusterId = clusterId;
        _serviceId = serviceId;
        return this;
    }

    /// <summary>Starts the Orleans client and connects; throws <see cref="ClusterUnavailableException"/> when no gateway answers.</summary>
    public async Task<MInferenceClient> ConnectAsync(CancellationToken cancellationToken = default)
    {
        var redis = _redis;
        var gateway = redis is not null
            ? $"the gateways listed in Redis {string.Join(",", redis.EndPoints.Select(e => e.ToString()))}"
            : _host is null ? $"localhost:{_gatewayPort}" : $"{_host}:{_gatewayPort}";
        IPEndPoint[] endpoints = [];
        try
        {
            if (redis is null)
            {
                endpoints = _host is null
                    ? [new IPEndPoint(IPAddress.Loopback, _gatewayPort)]
                    : [.. (await Dns.GetHostAddressesAsync(_host, cancellationToken).ConfigureAwait(false)).Select(a => new IPEndPoint(a, _gatewayPort))];
            }
        }
        catch (SocketException e)
        {
            throw new ClusterUnavailableException($"gateway host '{_host}' does not resolve: {e.SocketErrorCode}", e);
        }

        var builder = Host.CreateApplicationBuilder();
        // A client is a guest in the caller's console: Orleans' own start-up chatter stays out of it.
        // Unreachable gateways surface as one ClusterUnavailableException, not a log line per attempt.
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Orleans", LogLevel.Error);
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        builder.UseOrleansClient(client =>
        {
            if (redis is not null)
            {
                // A copy per client: StackExchange.Redis keeps state on the options it connects with.
                client.UseRedisClustering(o => o.ConfigurationOptions = redis.Clone());
            }
            else
            {
                client.UseStaticClustering(endpoints);
            }

            client.UseConnectionRetryFilter(new BoundedConnectionRetryFilter(ConnectAttempts, _connectRetryDelay));
            if (_clusterId is not null && _serviceId is not null)
            {
                client.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = _clusterId;
                    o.ServiceId = _serviceId;
                });
            }
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            return new MInferenceClient(host.Services.GetRequiredService<IClusterClient>(), host);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            host.Dispose();
            throw new ClusterUnavailableException($"no MInference gateway answered at {gateway} (cluster '{_clusterId ?? "default"}'): {e.Message}", e);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    private static void CheckPort(int port)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
    }

    /// <summary>Retries connecting a few times (a silo may be starting), then lets the start fail.</summary>
    private sealed class BoundedConnectionRetryFilter(int attempts, TimeSpan delay) : IClientConnectionRetryFilter
    {
        private int _failures;

        public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _failures) >= attempts)
            {
                return false;
            }

            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            return true;
        }
    }
}
