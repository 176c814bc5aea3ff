using MInference.Client;

namespace Microsoft.Extensions.DependencyInjection;

public static class MInferenceClientServiceCollectionExtensions
{
    /// <summary>Registers a singleton <see cref="MInferenceClient"/> over the container's Orleans <c>IClusterClient</c>.</summary>
    public static IServiceCollection AddMInferenceClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.AddSingleton(sp => new MInferenceClient(sp.GetRequiredService<IClusterClient>()));
    }
}
