using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using MInference.Silo.Devices;
using MInference.Silo.Grains;
using MInference.Silo.Placement;
using Orleans.Storage;

namespace MInference.Silo.Hosting;

/// <summary>Composition of a MInference silo; the host, the CLI's embedded cluster and the tests all call it.</summary>
public static class MInferenceSiloBuilderExtensions
{
    /// <summary>Grain storage of job records (in memory in embedded and dev mode).</summary>
    public const string JobStorageName = "minference-jobs";

    /// <summary>Grain storage of the coordinator's registry: registered models and pattern configs (in memory in embedded and dev mode).</summary>
    public const string RegistryStorageName = "minference-registry";

    public static ISiloBuilder AddMInference(this ISiloBuilder builder, IConfiguration? configuration = null, Action<MInferenceSiloOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Services.AddOptions<MInferenceSiloOptions>();
        if (configuration is not null)
        {
            options.Bind(configuration.GetSection(MInferenceSiloOptions.SectionName));
        }

        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<MInferenceSiloOptions>, MInferenceSiloOptionsValidator>();
        builder.Services.TryAddSingleton<IDeviceDiscovery, HostDeviceDiscovery>();
        builder.Services.TryAddSingleton<IJobChunkGate, OpenJobChunkGate>();
        builder.Services.AddMInferenceExecution(configuration);
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, DeviceRegistrar>();
        // The pool knows which jobs hold state on its devices without opening any; tests may register their own first.
        builder.Services.TryAddSingleton<IInFlightWork>(sp => sp.GetRequiredService<DeviceWorkerPool>());
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SiloDrainer>();
        builder.Services.AddPlacementDirector<StagePlacementStrategy, StagePlacementDirector>();

        // Deployments register Redis for both first (UseMInferenceHosting); embedded and dev mode keep them in memory.
        foreach (var storage in new[] { JobStorageName, RegistryStorageName })
        {
            if (!builder.Services.Any(d => d.IsKeyedService && d.ServiceType == typeof(IGrainStorage) && Equals(d.ServiceKey, storage)))
            {
                builder.AddMemoryGrainStorage(storage);
            }
        }

        if (!builder.Services.Any(d => d.ServiceType == typeof(IReminderTable)))
        {
            builder.UseInMemoryReminderService();
        }

        return builder;
    }
}
