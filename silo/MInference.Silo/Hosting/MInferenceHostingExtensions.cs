using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Dashboard;
using Orleans.Storage;
using StackExchange.Redis;

namespace MInference.Silo.Hosting;

/// <summary>
/// The deployment side of a silo: clustering, where jobs and reminders are kept, endpoints, Kubernetes
/// hosting and the dashboard, all from validated <see cref="MInferenceSiloOptions"/>. Call before
/// <see cref="MInferenceSiloBuilderExtensions.AddMInference"/>, which fills in in-memory job storage
/// and reminders only where this registered none.
/// </summary>
public static class MInferenceHostingExtensions
{
    public static ISiloBuilder UseMInferenceHosting(this ISiloBuilder builder, MInferenceSiloOptions settings)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(settings);
        switch (settings.Clustering)
        {
            case ClusteringMode.Localhost:
                builder.UseLocalhostClustering(
                    settings.SiloPort,
                    settings.GatewayPort,
                    settings.PrimarySiloPort == 0 ? null : new IPEndPoint(IPAddress.Loopback, settings.PrimarySiloPort),
                    settings.ServiceId,
                    settings.ClusterId);
                break;
            case ClusteringMode.Redis:
                UseRedis(builder, settings);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(settings), settings.Clustering, "MInference:Clustering must be Localhost or Redis");
        }

        builder.Configure<SiloOptions>(o => o.SiloName = settings.SiloName);
        if (settings.KubernetesHosting)
        {
            // Takes the silo name, endpoints and cluster ids from the pod, and deletes pods of silos the cluster declared dead.
            builder.UseKubernetesHosting();
        }

        if (settings.DashboardEnabled)
        {
            builder.AddDashboard();
        }

        builder.AddMInferenceTelemetry(settings);

        // The host must outlive the drain, or it cuts the silo's stop short (default 30 s).
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.DrainTimeout + ShutdownMargin);
        return builder;
    }

    /// <summary>Time beyond the drain for Orleans' own stop: deactivating grains and leaving membership.</summary>
    public static readonly TimeSpan ShutdownMargin = TimeSpan.FromSeconds(30);

    private static void UseRedis(ISiloBuilder builder, MInferenceSiloOptions settings)
    {
        var connection = settings.RedisConnectionString
            ?? throw new ArgumentException("MInference:RedisConnectionString is required when MInference:Clustering is Redis", nameof(settings));
        builder.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = settings.ClusterId;
            o.ServiceId = settings.ServiceId;
        });
        builder.UseRedisClustering(o => o.ConfigurationOptions = ConfigurationOptions.Parse(connection));
        builder.UseRedisReminderService(o => o.ConfigurationOptions = ConfigurationOptions.Parse(connection));

        // Job records and the coordinator's registry are [GenerateSerializer] types with stable ids: stored with Orleans' serializer, not JSON.
        foreach (var storage in new[] { MInferenceSiloBuilderExtensions.JobStorageName, MInferenceSiloBuilderExtensions.RegistryStorageName })
        {
            builder.AddRedisGrainStorage(storage, options => options.Configure<IServiceProvider>((o, services) =>
            {
                o.ConfigurationOptions = ConfigurationOptions.Parse(connection);
                o.GrainStorageSerializer = ActivatorUtilities.CreateInstance<OrleansGrainStorageSerializer>(services);
            }));
        }

        if (settings.AdvertisedAddress is { } advertised && IPAddress.TryParse(advertised, out var ip))
        {
            // A loopback cluster listens on loopback only; any other address listens on every interface (containers).
            builder.ConfigureEndpoints(ip, settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(ip));
        }
        else
        {
            builder.ConfigureEndpoints(settings.AdvertisedAddress ?? Dns.GetHostName(), settings.SiloPort, settings.GatewayPort, AddressFamily.InterNetwork, listenOnAnyHostAddress: true);
        }
    }
}
