using MInference.Silo.Devices;

namespace MInference.Silo.Hosting;

/// <summary>Reads the active jobs from the device workers' snapshots (a job holds a KV cache until it is released).</summary>
internal sealed class DeviceWorkerInFlightWork(DeviceWorkerPool pool) : IInFlightWork
{
    public IReadOnlyCollection<string> ActiveJobIds()
    {
        var jobs = new SortedSet<string>(StringComparer.Ordinal);
        for (var device = 0; device < pool.Count; device++)
        {
            jobs.UnionWith(pool.Get(device).Snapshot().Jobs);
        }

        return jobs;
    }
}
