using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MInference.Kernels.Cpu;
using MInference.Shared.Contracts;
using MInference.Silo.DataPlane;
using MInference.Silo.Grains;
using MInference.Silo.Hosting;

namespace MInference.Silo.Devices;

/// <summary>The silo's device workers, one per discovered device, created on first use.</summary>
public sealed class DeviceWorkerPool : IDisposable
{
    private readonly DeviceWorker?[] _workers;
    private readonly IActivationChannel _channel;
    private readonly SiloDataPlane _dataPlane;
    private readonly ILoggerFactory _loggers;
    private readonly int _threads;
    private readonly int _maxQueuedChunks;
    private readonly Lock _lock = new();

    public DeviceWorkerPool(
        IOptions<MInferenceSiloOptions> options,
        IOptions<ClusterExecutionOptions> execution,
        IActivationChannel channel,
        SiloDataPlane dataPlane,
        ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(execution);
        _workers = new DeviceWorker?[options.Value.CpuDevices];
        _threads = options.Value.CpuThreadsPerDevice;
        _maxQueuedChunks = execution.Value.MaxQueuedChunksPerStage;
        _channel = channel;
        _dataPlane = dataPlane;
        _loggers = loggers;
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
                deviceIndex,
                new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = _threads }),
                _channel,
                _dataPlane,
                _maxQueuedChunks,
                StageKeys.Format(_channel.SiloName, deviceIndex),
                _loggers.CreateLogger<DeviceWorker>());
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
