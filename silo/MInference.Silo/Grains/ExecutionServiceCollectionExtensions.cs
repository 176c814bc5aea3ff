using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MInference.DataPlane;
using MInference.Silo.DataPlane;
using MInference.Silo.Devices;

namespace MInference.Silo.Grains;

/// <summary>Registers what jobs and stages run on: execution options, the in-process channel, the TCP data plane and the device workers.</summary>
internal static class ExecutionServiceCollectionExtensions
{
    /// <summary>Section of the data plane's settings (<see cref="DataPlaneOptions"/>).</summary>
    public const string DataPlaneSectionName = "MInference:DataPlane";

    public static IServiceCollection AddMInferenceExecution(this IServiceCollection services, IConfiguration? configuration)
    {
        var execution = services.AddOptions<ClusterExecutionOptions>();
        var dataPlane = services.AddOptions<DataPlaneOptions>();
        if (configuration is not null)
        {
            execution.Bind(configuration.GetSection(ClusterExecutionOptions.SectionName));
            dataPlane.Bind(configuration.GetSection(DataPlaneSectionName));
        }

        execution.ValidateOnStart();
        dataPlane.ValidateOnStart();
        services.AddSingleton<IValidateOptions<ClusterExecutionOptions>, ClusterExecutionOptionsValidator>();
        // Orleans refuses reminder periods under its minimum (1 minute by default): a shorter watchdog period lowers it.
        services.AddOptions<ReminderOptions>().PostConfigure<IOptions<ClusterExecutionOptions>>((reminders, jobs) =>
        {
            if (jobs.Value.WatchdogPeriod < reminders.MinimumReminderPeriod && jobs.Value.WatchdogPeriod >= ClusterExecutionOptions.MinWatchdogTime)
            {
                reminders.MinimumReminderPeriod = jobs.Value.WatchdogPeriod;
            }
        });
        services.AddSingleton<IValidateOptions<DataPlaneOptions>, DataPlaneOptionsValidator>();
        services.AddSingleton<IActivationChannel>(sp => new InProcessActivationChannel(sp.GetRequiredService<ILocalSiloDetails>().Name));
        services.AddSingleton<SiloDataPlane>();
        services.AddSingleton<ModelTokenizers>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SiloDataPlaneLifecycle>();
        services.AddSingleton<DeviceWorkerPool>();
        return services;
    }

    /// <summary>Turns <see cref="DataPlaneOptions.Validate"/>'s exception into a start-up failure that names the setting.</summary>
    private sealed class DataPlaneOptionsValidator : IValidateOptions<DataPlaneOptions>
    {
        public ValidateOptionsResult Validate(string? name, DataPlaneOptions options)
        {
            try
            {
                options.Validate();
                return ValidateOptionsResult.Success;
            }
            catch (ArgumentException e)
            {
                return ValidateOptionsResult.Fail(e.Message);
            }
        }
    }
}
