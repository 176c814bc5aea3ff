namespace MInference.Silo.Hosting;

/// <summary>The jobs that hold state on this silo's devices: what a graceful shutdown waits for.</summary>
public interface IInFlightWork
{
    /// <summary>Ids of the jobs with a KV cache on any of this silo's devices now.</summary>
    IReadOnlyCollection<string> ActiveJobIds();
}
