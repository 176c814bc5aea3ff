using MInference.DataPlane;
using MInference.Kernels.Backends;
using MInference.Shared.Contracts;

namespace MInference.Silo.DataPlane;

/// <summary>
/// A chunk's input pulled from another silo: already a tensor of the receiving backend (copied out of the
/// producer's GPU through CUDA IPC) or verified bytes still to upload. Dispose frees whichever was not taken.
/// </summary>
public sealed class RemoteActivation : IDisposable
{
    private IDeviceTensor? _tensor;
    private ReceivedPayload? _payload;

    internal RemoteActivation(IDeviceTensor? tensor, ReceivedPayload? payload)
    {
        _tensor = tensor;
        _payload = payload;
        CameOnDevice = tensor is not null;
    }

    /// <summary>True when the activation came device to device (CUDA IPC), false when as bytes over TCP.</summary>
    public bool CameOnDevice { get; }

    /// <summary>The activation as a tensor of <paramref name="backend"/> (the one it was fetched for); ownership passes to the caller, once.</summary>
    public IDeviceTensor TakeTensor(ActivationTicket ticket, IComputeBackend backend)
    {
        var tensor = Interlocked.Exchange(ref _tensor, null);
        if (tensor is not null)
        {
            return tensor;
        }

        using var payload = Interlocked.Exchange(ref _payload, null)
            ?? throw new InvalidOperationException($"the activation of ticket {ticket.TransferId} was already taken");
        return SiloDataPlane.Upload(ticket, payload, backend);
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _tensor, null)?.Dispose();
        Interlocked.Exchange(ref _payload, null)?.Dispose();
    }
}
