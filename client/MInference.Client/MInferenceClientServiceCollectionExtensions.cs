using System.Net;
using Microsoft.Extensions.Hosting;
using MInference.Client;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

public static class MInferenceClientServiceCollectionExtensions
{
    /// <summary>Registers a singleton <see cref="MInferenceClient"/> over the container's Orleans <c>IClusterClient</c> (a co-hosted silo, or a client added by the caller).</summary>
    public static IServiceCollection AddMInferenceClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.AddSingleton(sp => new MInferenceClient(sp.GetRequiredService<IClusterClient>()));
    }

    /// <summary>
    /// Registers an Orleans client connected to the given silo gateways (static clustering; the host's start
    /// connects it) and a singleton <see cref="MInferenceClient"/> over it. <paramref name="configure"/> can add
    /// to the Orleans client (cluster ids, retry filters).
    /// </summary>
    public static IServiceCollection AddMInferenceClient(this IServiceCollection services, IReadOnlyList<IPEndPoint> gateways, Action<IClientBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(gateways);
        if (gateways.Count == 0)
        {
            throw new ArgumentException("at least one gateway endpoint is needed", nameof(gateways));
        }

        services.AddOrleansClient(client =>
        {
            client.UseStaticClustering([.. gateways]);
            configure?.Invoke(client);
        });
        return services.AddMInferenceClient();
    }

    /// <summary>
    /// Registers an Orleans client that finds the gateways of a Redis-clustered deployment in Redis (the
    /// host's start connects it) and a singleton <see cref="MInferenceClient"/> over it. The ids must be the
    /// silos' <c>MInference:ClusterId</c> and <c>MInference:ServiceId</c>.
    /// </summary>
    public static IServiceCollection AddMInferenceRedisClient(this IServiceCollection services, string redisConnectionString, string clusterId, string serviceId, Action<IClientBuilder>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(redisConnectionString);
        ArgumentException.ThrowIfNullOrWhiteSpace(clusterId);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceId);
        var redis = ConfigurationOptions.Parse(redisConnectionString);
        services.AddOrleansClient(client =>
        {
            client.UseRedisClustering(o => o.ConfigurationOptions = redis)
                .Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = clusterId;
                    o.ServiceId = serviceId;
                });
            configure?.Invoke(client);
        });
        return services.AddMInferenceClient();
    }
}
