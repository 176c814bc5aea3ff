using Microsoft.Extensions.DependencyInjection;

namespace MInference.Silo.DataPlane;

/// <summary>Starts the data-plane listener when the silo starts (not on the first transfer) and stops it when the silo stops.</summary>
internal sealed class SiloDataPlaneLifecycle(IServiceProvider services) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle)
        => lifecycle.Subscribe(nameof(SiloDataPlaneLifecycle), ServiceLifecycleStage.RuntimeInitialize, Start, Stop);

    private Task Start(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<SiloDataPlane>();
        return Task.CompletedTask;
    }

    // Peers pulling from a stopped silo get a refused connection: retryable, and the job re-plans.
    private Task Stop(CancellationToken cancellationToken) => services.GetRequiredService<SiloDataPlane>().DisposeAsync().AsTask();
}
