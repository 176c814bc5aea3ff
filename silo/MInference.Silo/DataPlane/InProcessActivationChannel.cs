using System.Collections.Concurrent;
using MInference.Kernels.Backends;
using MInference.Shared.Contracts;
using MInference.Shared.Models;

namespace MInference.Silo.DataPlane;

/// <summary>
/// The data plane within one silo: a registry of parked tensors. Taking onto the producer's own
/// backend hands the tensor over without a copy; onto another backend it goes through host memory.
/// Tickets from other silos are redeemed through <see cref="SiloDataPlane"/>, not here.
/// </summary>
public sealed class InProcessActivationChannel(string siloName) : IActivationChannel, IDisposable
{
    public string SiloName => siloName;

    private readonly ConcurrentDictionary<Guid, Parked> _parked = new();

    public int PendingCount => _parked.Count;

    public ActivationTicket Publish(string jobId, int chunkIndex, IDeviceTensor hiddenStates, IComputeBackend backend)
    {
        ArgumentNullException.ThrowIfNull(hiddenStates);
        ArgumentNullException.ThrowIfNull(backend);
        var ticket = new ActivationTicket(
            Guid.NewGuid(),
            jobId,
            chunkIndex,
            hiddenStates.Rows,
            hiddenStates.Columns,
            hiddenStates.DType.ToString(),
            hiddenStates.Rows * hiddenStates.Columns * hiddenStates.DType.SizeInBytes(),
            siloName);
        _parked[ticket.TransferId] = new Parked(ticket, hiddenStates, backend);
        return ticket;
    }

    public IDeviceTensor Take(ActivationTicket ticket, IComputeBackend target)
    {
        ArgumentNullException.ThrowIfNull(ticket);
        ArgumentNullException.ThrowIfNull(target);
        if (!string.Equals(ticket.SourceSilo, siloName, StringComparison.Ordinal))
        {
            throw new TransferFailedException(
                $"ticket {ticket.TransferId} of job '{ticket.JobId}' is parked on silo '{ticket.SourceSilo}', but this is '{siloName}': it must be pulled through the TCP data plane",
                isRetryable: false);
        }

        if (!_parked.TryRemove(ticket.TransferId, out var parked))
        {
            throw new TransferFailedException(
                $"ticket {ticket.TransferId} of job '{ticket.JobId}' chunk {ticket.ChunkIndex} is unknown: already taken or released",
                isRetryable: false);
        }

        if (ReferenceEquals(parked.Backend, target))
        {
            return parked.Tensor;
        }

        using (parked.Tensor)
        {
            var host = new float[parked.Tensor.Rows * parked.Tensor.Columns];
            parked.Backend.Download(parked.Tensor, host);
            return target.Upload(host, parked.Tensor.Rows, parked.Tensor.Columns);
        }
    }

    public int ReleaseJob(string jobId)
    {
        var released = 0;
        foreach (var (id, parked) in _parked)
        {
            if (string.Equals(parked.Ticket.JobId, jobId, StringComparison.Ordinal) && _parked.TryRemove(id, out var removed))
            {
                removed.Tensor.Dispose();
                released++;
            }
        }

        return released;
    }

    public void Dispose()
    {
        foreach (var id in _parked.Keys)
        {
            if (_parked.TryRemove(id, out var parked))
            {
                parked.Tensor.Dispose();
            }
        }
    }

    private sealed record Parked(ActivationTicket Ticket, IDeviceTensor Tensor, IComputeBackend Backend);
}
