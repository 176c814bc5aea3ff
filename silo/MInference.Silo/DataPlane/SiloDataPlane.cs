using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MInference.DataPlane;
using MInference.Kernels.Backends;
using MInference.Kernels.Cuda;
using MInference.Kernels.Cuda.Interop;
using MInference.Kernels.Cuda.Transfer;
using MInference.Shared.Contracts;
using MInference.Shared.Models;
using MInference.Silo.Diagnostics;
using MInference.Silo.Grains;
using DataPlaneTransferFailedException = MInference.DataPlane.TransferFailedException;

namespace MInference.Silo.DataPlane;

/// <summary>
/// This silo's side of the cross-silo data plane: a bounded store of parked activations, the TCP listener
/// other silos pull them from, and the fetcher that pulls theirs. Started with the silo (see
/// <see cref="SiloDataPlaneLifecycle"/>); its endpoint goes into every ticket for another silo.
/// </summary>
public sealed partial class SiloDataPlane : IAsyncDisposable
{
    /// <summary>The dtype of <see cref="PublishAsync(string, int, long, int, ReadOnlyMemory{byte}, CancellationToken)"/>'s input: stages hand over f32.</summary>
    public const string WireDType = ActivationWire.F32;

    private readonly ParkedPayloadStore _store;
    private readonly DataPlaneListener _listener;
    private readonly DataPlaneFetcher _fetcher;
    private readonly string _siloName;
    private readonly int _attempts;
    private readonly string _activationDType;
    private readonly bool _deviceIpc;
    private int _exportFailureLogged;
    private long _deviceFetches;
    private readonly ILogger<SiloDataPlane> _logger;
    private readonly ConcurrentDictionary<Guid, string> _jobOfTransfer = new();
    private long _fetched;
    private long _fetchedBytes;
    private long _retries;

    public SiloDataPlane(
        IOptions<DataPlaneOptions> options,
        IOptions<ClusterExecutionOptions> execution,
        ILocalSiloDetails silo,
        ILoggerFactory loggers)
        : this(options, execution, (silo ?? throw new ArgumentNullException(nameof(silo))).Name, loggers)
    {
    }

    /// <summary>A data plane for the silo named <paramref name="siloName"/> (tests build one without a silo).</summary>
    public SiloDataPlane(IOptions<DataPlaneOptions> options, IOptions<ClusterExecutionOptions> execution, string siloName, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(execution);
        ArgumentException.ThrowIfNullOrEmpty(siloName);
        ArgumentNullException.ThrowIfNull(loggers);
        _siloName = siloName;
        _attempts = execution.Value.TransferAttempts;
        options.Value.Validate();
        _activationDType = options.Value.ActivationDType;
        _deviceIpc = options.Value.DeviceIpc;
        _logger = loggers.CreateLogger<SiloDataPlane>();
        _store = ParkedPayloadStore.Create(options.Value);
        try
        {
            _listener = DataPlaneListener.Start(_store, options.Value, loggers.CreateLogger<DataPlaneListener>());
        }
        catch
        {
            _store.Dispose();
            throw;
        }

        _fetcher = new DataPlaneFetcher(options.Value, loggers.CreateLogger<DataPlaneFetcher>());
        LogListening(_siloName, _listener.Endpoint);
    }

    /// <summary>"host:port" of this silo's listener.</summary>
    public string Endpoint => _listener.Endpoint;

    /// <summary>Payloads parked here and not yet acknowledged by their receivers.</summary>
    public int ParkedCount => _store.Count;

    /// <summary>Fetches from other silos that succeeded since start.</summary>
    public long FetchedTransfers => Interlocked.Read(ref _fetched);

    /// <summary>Bytes fetched from other silos since start.</summary>
    public long FetchedBytes => Interlocked.Read(ref _fetchedBytes);

    /// <summary>Fetches from other silos that came device to device (CUDA IPC on this host) since start.</summary>
    public long DeviceFetches => Interlocked.Read(ref _deviceFetches);

    /// <summary>Fetches tried again after a retryable failure since start.</summary>
    public long RetriedFetches => Interlocked.Read(ref _retries);

    /// <summary>Test hook: a fault for the listener to commit on each send.</summary>
    internal Func<Guid, TransferFault>? FaultInjector
    {
        get => _listener.FaultInjector;
        set => _listener.FaultInjector = value;
    }

    /// <summary>
    /// Parks f32 activations of an f32 producer (a CPU stage) for a stage on another silo; see the overload.
    /// </summary>
    public Task<ActivationTicket> PublishAsync(string jobId, int chunkIndex, long rows, int columns, ReadOnlyMemory<byte> f32Bytes, CancellationToken cancellationToken)
        => PublishAsync(jobId, chunkIndex, rows, columns, f32Bytes, producerComputesInBFloat16: false, cancellationToken);

    /// <summary>
    /// Parks activations for a stage on another silo (copied into a pooled buffer in the wire dtype that
    /// <see cref="DataPlaneOptions.ActivationDType"/> picks for this producer; waits while the store's window
    /// of tickets or bytes is full) and returns the ticket that stage redeems.
    /// </summary>
    public Task<ActivationTicket> PublishAsync(
        string jobId, int chunkIndex, long rows, int columns, ReadOnlyMemory<byte> f32Bytes, bool producerComputesInBFloat16, CancellationToken cancellationToken)
        => PublishAsync(jobId, chunkIndex, rows, columns, f32Bytes, producerComputesInBFloat16, device: null, cancellationToken);

    /// <summary>
    /// Parks activations as the overload does, together with <paramref name="device"/> (from
    /// <see cref="TryExport"/>): receivers with a GPU on this host copy them device to device from there
    /// instead of pulling the bytes. The data plane owns <paramref name="device"/> from this call on.
    /// </summary>
    public async Task<ActivationTicket> PublishAsync(
        string jobId, int chunkIndex, long rows, int columns, ReadOnlyMemory<byte> f32Bytes, bool producerComputesInBFloat16, IDeviceExport? device, CancellationToken cancellationToken)
    {
        try
        {
            return await PublishCoreAsync(jobId, chunkIndex, rows, columns, f32Bytes, producerComputesInBFloat16, device, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Exports are idempotent to dispose: the store may have freed it already.
            device?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A CUDA IPC export of <paramref name="tensor"/> (a device copy the producer's stream writes; the caller
    /// keeps the tensor) for <see cref="PublishAsync(string, int, long, int, ReadOnlyMemory{byte}, bool, IDeviceExport, CancellationToken)"/>;
    /// null when device IPC is off, the backend is not CUDA or the tensor not bf16, or the export failed
    /// (logged once: the bytes still go out).
    /// </summary>
    public IDeviceExport? TryExport(IComputeBackend backend, IDeviceTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(tensor);
        if (!_deviceIpc || backend is not CudaBackend cuda || tensor.DType != TensorDType.BFloat16)
        {
            return null;
        }

        try
        {
            return new CudaDeviceExport(CudaIpcExport.Create(cuda, tensor));
        }
        catch (Exception e) when (e is CudaException or InvalidOperationException or ArgumentException)
        {
            if (Interlocked.Exchange(ref _exportFailureLogged, 1) == 0)
            {
                LogExportFailed(_siloName, e.Message);
            }

            return null;
        }
    }

    private async Task<ActivationTicket> PublishCoreAsync(
        string jobId, int chunkIndex, long rows, int columns, ReadOnlyMemory<byte> f32Bytes, bool producerComputesInBFloat16, IDeviceExport? device, CancellationToken cancellationToken)
    {
        var dtype = ActivationWire.Resolve(_activationDType, producerComputesInBFloat16);
        if (dtype == ActivationWire.F32)
        {
            return await ParkAsync(jobId, chunkIndex, rows, columns, dtype, f32Bytes, device, cancellationToken).ConfigureAwait(false);
        }

        var values = MemoryMarshal.Cast<byte, float>(f32Bytes.Span).Length;
        var length = checked(values * ActivationWire.ElementSize(dtype));
        var encoded = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            ActivationWire.Encode(MemoryMarshal.Cast<byte, float>(f32Bytes.Span), dtype, encoded);
            return await ParkAsync(jobId, chunkIndex, rows, columns, dtype, encoded.AsMemory(0, length), device, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(encoded);
        }
    }

    /// <summary>
    /// A fetched payload as a tensor of <paramref name="backend"/>: bf16 bytes go to a bf16 backend as they
    /// are, everything else through f32.
    /// </summary>
    public static IDeviceTensor Upload(ActivationTicket ticket, ReceivedPayload payload, IComputeBackend backend)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(backend);
        var dtype = payload.Descriptor.DType;
        var bytes = payload.Bytes.Span;
        if (dtype == ActivationWire.F32)
        {
            return backend.Upload(MemoryMarshal.Cast<byte, float>(bytes), ticket.Rows, ticket.Columns);
        }

        if (dtype == ActivationWire.BF16 && backend.ActivationDType == TensorDType.BFloat16)
        {
            return backend.UploadWeight(bytes, TensorDType.BFloat16, ticket.Rows, ticket.Columns);
        }

        var values = new float[checked(ticket.Rows * ticket.Columns)];
        ActivationWire.Decode(bytes, dtype, values);
        return backend.Upload(values, ticket.Rows, ticket.Columns);
    }

    private async Task<ActivationTicket> ParkAsync(string jobId, int chunkIndex, long rows, int columns, string dtype, ReadOnlyMemory<byte> bytes, IDeviceExport? device, CancellationToken cancellationToken)
    {
        var descriptor = new PayloadDescriptor(dtype, rows, columns, bytes.Length);
        var ticket = await _listener.PublishAsync(descriptor, bytes, device, cancellationToken).ConfigureAwait(false);
        _jobOfTransfer[ticket.TransferId] = jobId;
        return new ActivationTicket(ticket.TransferId, jobId, chunkIndex, rows, columns, dtype, bytes.Length, _siloName, ticket.Endpoint);
    }

    /// <summary>
    /// Pulls a ticket's bytes from its source silo, trying a retryable failure again up to
    /// <see cref="ClusterExecutionOptions.TransferAttempts"/> times; then throws the silo's serializable
    /// <see cref="TransferFailedException"/> so the job re-plans. The caller disposes the payload.
    /// </summary>
    public Task<ReceivedPayload> FetchAsync(ActivationTicket ticket, CancellationToken cancellationToken)
        => WithRetriesAsync(ticket, (request, ct) => _fetcher.FetchAsync(request, ct), cancellationToken);

    /// <summary>
    /// Pulls a ticket's activation for <paramref name="target"/>: when that is a CUDA backend and the producer
    /// parked a device export on this host, copied device to device through CUDA IPC (the copy runs while
    /// holding <paramref name="deviceGate"/>, the gate the target's compute holds, since backends are not
    /// thread-safe); otherwise, or when that path is refused or fails, as bytes over TCP (retried as
    /// <see cref="FetchAsync(ActivationTicket, CancellationToken)"/> is). The caller disposes the result.
    /// </summary>
    public async Task<RemoteActivation> FetchAsync(ActivationTicket ticket, IComputeBackend target, SemaphoreSlim? deviceGate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (!_deviceIpc || target is not CudaBackend cuda)
        {
            return new RemoteActivation(null, await FetchAsync(ticket, cancellationToken).ConfigureAwait(false));
        }

        var delivery = await WithRetriesAsync(
            ticket,
            (request, ct) => _fetcher.FetchAsync(request, descriptor => ImportDevice(ticket, cuda, descriptor, deviceGate, ct), ct),
            cancellationToken).ConfigureAwait(false);
        if (delivery.Device is not null)
        {
            Interlocked.Increment(ref _deviceFetches);
        }

        return new RemoteActivation(delivery.Device, delivery.Bytes);
    }

    /// <summary>Opens the producer's export and copies it onto <paramref name="target"/>; any throw sends the fetch on to the bytes.</summary>
    private static IDeviceTensor ImportDevice(ActivationTicket ticket, CudaBackend target, ReadOnlyMemory<byte> encoded, SemaphoreSlim? deviceGate, CancellationToken cancellationToken)
    {
        var descriptor = CudaIpcDescriptor.Decode(encoded.Span);
        if (descriptor.Rows != ticket.Rows || descriptor.Columns != ticket.Columns)
        {
            throw new InvalidDataException(
                $"the device export of ticket {ticket.TransferId} holds [{descriptor.Rows}, {descriptor.Columns}] but the ticket says [{ticket.Rows}, {ticket.Columns}]");
        }

        deviceGate?.Wait(cancellationToken);
        try
        {
            return CudaIpcImport.CopyOut(target, descriptor);
        }
        finally
        {
            deviceGate?.Release();
        }
    }

    private async Task<T> WithRetriesAsync<T>(ActivationTicket ticket, Func<DataPlaneTicket, CancellationToken, Task<T>> fetch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        if (ticket.SourceEndpoint is null)
        {
            throw new TransferFailedException(
                $"ticket {ticket.TransferId} of job '{ticket.JobId}' chunk {ticket.ChunkIndex} was parked in process on silo '{ticket.SourceSilo}' and has no data-plane endpoint for silo '{_siloName}' to pull it from",
                isRetryable: false);
        }

        if (ticket.DType is not (ActivationWire.F32 or ActivationWire.BF16))
        {
            throw new TransferFailedException(
                $"ticket {ticket.TransferId} carries dtype {ticket.DType}; the data plane moves {ActivationWire.F32} and {ActivationWire.BF16} only",
                isRetryable: false);
        }

        var request = new DataPlaneTicket(ticket.TransferId, ticket.SourceEndpoint, new PayloadDescriptor(ticket.DType, ticket.Rows, ticket.Columns, ticket.ByteLength));
        using var activity = MInferenceActivitySource.Source.StartActivity("dataplane.fetch");
        activity?.SetTag("minference.job", ticket.JobId);
        activity?.SetTag("minference.bytes", ticket.ByteLength);
        for (var attempt = 1; ; attempt++)
        {
            var watch = Stopwatch.StartNew();
            try
            {
                var fetched = await fetch(request, cancellationToken).ConfigureAwait(false);
                var seconds = Math.Max(watch.Elapsed.TotalSeconds, 1e-9);
                Interlocked.Increment(ref _fetched);
                Interlocked.Add(ref _fetchedBytes, ticket.ByteLength);
                MInferenceMetrics.TransferBytes.Add(ticket.ByteLength);
                MInferenceMetrics.TransferRate.Record(ticket.ByteLength / 1e6 / seconds);
                return fetched;
            }
            catch (DataPlaneTransferFailedException e) when (e.IsRetryable && attempt < _attempts)
            {
                Interlocked.Increment(ref _retries);
                MInferenceMetrics.TransferRetries.Add(1);
                LogFetchRetry(ticket.JobId, ticket.ChunkIndex, attempt, _attempts, e.Message);
            }
            catch (DataPlaneTransferFailedException e)
            {
                LogFetchFailed(ticket.JobId, ticket.ChunkIndex, attempt, e.Message);
                throw new TransferFailedException(
                    $"job '{ticket.JobId}' chunk {ticket.ChunkIndex}: {e.Message} (gave up after {attempt} of {_attempts} tries, MInference:Execution:TransferAttempts)",
                    e.IsRetryable);
            }
        }
    }

    /// <summary>Frees the payloads this silo still parks for the job (their receivers will not come); returns how many.</summary>
    public int ReleaseJob(string jobId)
    {
        var released = 0;
        foreach (var (id, job) in _jobOfTransfer)
        {
            if (string.Equals(job, jobId, StringComparison.Ordinal) && _jobOfTransfer.TryRemove(id, out _) && _store.Release(id))
            {
                released++;
            }
        }

        return released;
    }

    public async ValueTask DisposeAsync()
    {
        await _listener.DisposeAsync().ConfigureAwait(false);
        _store.Dispose();
    }

    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "Silo {Silo} serves activations on data-plane endpoint {Endpoint}")]
    private partial void LogListening(string silo, string endpoint);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "Job {JobId} chunk {Chunk}: fetch try {Attempt} of {Attempts} failed, trying again: {Problem}")]
    private partial void LogFetchRetry(string jobId, int chunk, int attempt, int attempts, string problem);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Error, Message = "Job {JobId} chunk {Chunk}: fetch failed after {Attempts} tries: {Problem}")]
    private partial void LogFetchFailed(string jobId, int chunk, int attempts, string problem);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Warning, Message = "Silo {Silo} cannot export activations through CUDA IPC (logged once; receivers pull the bytes): {Problem}")]
    private partial void LogExportFailed(string silo, string problem);
}
