using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;
using MInference.Kernels.Cuda;
using MInference.Shared.Contracts;
using MInference.Silo.DataPlane;
using MInference.Silo.Grains;
using MInference.Silo.Hosting;

namespace MInference.Silo.Devices;

/// <summary>
/// The silo's device workers, one per device that <see cref="IDeviceDiscovery"/> offers (the same list
/// the coordinator plans over), each opened on first use: a <c>cuda</c> device on its own ordinal through
/// <see cref="ComputeBackendFactory"/>, a <c>cpu</c> device as a <see cref="CpuBackend"/>. Also tells the
/// drain which jobs hold state here, from the workers already opened (asking never opens a device).
/// </summary>
public sealed class DeviceWorkerPool : IInFlightWork, IDisposable
{
    private readonly Lazy<IReadOnlyList<DeviceDescriptor>> _devices;
    private readonly Dictionary<int, DeviceWorker> _workers = [];
    private readonly IActivationChannel _channel;
    private readonly SiloDataPlane _dataPlane;
    private readonly ILoggerFactory _loggers;
    private readonly int _threads;
    private readonly int _maxQueuedChunks;
    private readonly Lock _lock = new();

    public DeviceWorkerPool(
        IOptions<MInferenceSiloOptions> options,
        IOptions<ClusterExecutionOptions> execution,
        IDeviceDiscovery discovery,
        IActivationChannel channel,
        SiloDataPlane dataPlane,
        ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(execution);
        ArgumentNullException.ThrowIfNull(discovery);
        ArgumentNullException.ThrowIfNull(channel);
        _threads = options.Value.CpuThreadsPerDevice;
        _maxQueuedChunks = execution.Value.MaxQueuedChunksPerStage;
        _channel = channel;
        _dataPlane = dataPlane;
        _loggers = loggers;
        // Discovery may load the CUDA driver: not before a stage or the drain needs the list.
        _devices = new(() => discovery.Discover(channel.SiloName));
    }

    /// <summary>The devices this silo offers, as discovered.</summary>
    public IReadOnlyList<DeviceDescriptor> Devices => _devices.Value;

    public int Count => Devices.Count;

    /// <summary>The worker of device <paramref name="deviceIndex"/>, opening its backend on the first call.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The silo offers no device with that index.</exception>
    /// <exception cref="InvalidOperationException">The device's backend could not be opened (the message names the device and why).</exception>
    public DeviceWorker Get(int deviceIndex)
    {
        lock (_lock)
        {
            if (_workers.TryGetValue(deviceIndex, out var worker))
            {
                return worker;
            }

            var device = Devices.FirstOrDefault(d => d.DeviceIndex == deviceIndex)
                ?? throw new ArgumentOutOfRangeException(
                    nameof(deviceIndex),
                    deviceIndex,
                    $"silo '{_channel.SiloName}' offers no device {deviceIndex} (its devices: {(Devices.Count == 0 ? "none" : string.Join(", ", Devices.Select(d => d.DeviceIndex)))})");
            var stageKey = StageKeys.Format(_channel.SiloName, deviceIndex);
            worker = new DeviceWorker(deviceIndex, Open(device, stageKey), _channel, _dataPlane, _maxQueuedChunks, stageKey, _loggers.CreateLogger<DeviceWorker>());
            _workers.Add(deviceIndex, worker);
            return worker;
        }
    }

    /// <summary>Ids of the jobs with a KV cache on a device opened so far; a device never opened holds none.</summary>
    public IReadOnlyCollection<string> ActiveJobIds()
    {
        DeviceWorker[] opened;
        lock (_lock)
        {
            opened = [.. _workers.Values];
        }

        var jobs = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var worker in opened)
        {
            jobs.UnionWith(worker.Snapshot().Jobs);
        }

        return jobs;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            // Copies between devices still in flight read their sources: finish them while the backends live.
            (_channel as InProcessActivationChannel)?.FlushDeviceHandOffs();
            foreach (var worker in _workers.Values)
            {
                worker.Dispose();
                worker.Backend.Dispose();
            }

            _workers.Clear();
        }
    }

    private IComputeBackend Open(DeviceDescriptor device, string stageKey)
    {
        var logger = _loggers.CreateLogger<DeviceWorkerPool>();
        var cpu = new CpuBackendOptions { MaxDegreeOfParallelism = _threads };
        var requested = device.Kind switch
        {
            DeviceDescriptor.CudaKind => ComputeDevice.Cuda,
            DeviceDescriptor.CpuKind => ComputeDevice.Cpu,
            _ => throw new InvalidOperationException(
                $"device {stageKey} ({device.Name}) is of kind '{device.Kind}'; this silo opens '{DeviceDescriptor.CudaKind}' and '{DeviceDescriptor.CpuKind}' devices"),
        };
        try
        {
            return ComputeBackendFactory.Create(requested, logger, requested == ComputeDevice.Cuda ? device.DeviceIndex : 0, cpu).Backend;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidOperationException($"device {stageKey} ({device.Kind} {device.Name}) could not be opened: {e.Message}", e);
        }
    }
}
