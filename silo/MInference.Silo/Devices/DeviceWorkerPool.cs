using Microsoft.Extensions.Options;
using MInference.Kernels.Cpu;
using MInference.Silo.DataPlane;
using MInference.Silo.Hosting;

namespace MInference.Silo.Devices;

/// <summary>The silo's device workers, one per discovered device, created on first use.</summary>
public sealed class DeviceWorkerPool : IDisposable
{
    private readonly DeviceWorker?[] _workers;
    private readonly IActivationChannel _channel;
    private readonly int _threads;
    private readonly Lock _lock = new();

    public DeviceWorkerPool(IOptions<MInferenceSiloOptions> options, IActivationChannel channel)
    {
        ArgumentNullException.ThrowIfNull(options);
        _workers = new DeviceWorker?[options.Value.CpuDevices];
        _threads = options.Value.CpuThreadsPerDevice;
        _channel = channel;
    }

    public int Count => _workers.Length;

    public DeviceWorker Get(int deviceIndex)
    {
        if ((uint)deviceIndex >= (uint)_workers.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(deviceIndex), deviceIndex, $"this silo has {_workers.Length} devices (MInference:CpuDevices)");
        }

        lock (_lock)
        {
            return _workers[deviceIndex] ??= new DeviceWorker(
                deviceIndex, new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = _threads }), _channel);
        }
    }

    public void Dispose()
    {
        foreach (var worker in _workers)
        {
            worker?.Dispose();
            worker?.Backend.Dispose();
        }
    }
}
