using MInference.Kernels.Backends;
using MInference.Shared.Contracts;

namespace MInference.Silo.DataPlane;

/// <summary>
/// Moves hidden states between stages of one silo beside Orleans: the producer parks a tensor and gets a
/// small ticket; the consumer takes the tensor with the ticket. Stages on other silos pull through
/// <see cref="SiloDataPlane"/> instead.
/// </summary>
public interface IActivationChannel
{
    /// <summary>The silo whose tickets this channel redeems.</summary>
    string SiloName { get; }

    /// <summary>Parks <paramref name="hiddenStates"/> (ownership passes to the channel) and returns its ticket.</summary>
    ActivationTicket Publish(string jobId, int chunkIndex, IDeviceTensor hiddenStates, IComputeBackend backend);

    /// <summary>Takes a parked tensor onto <paramref name="target"/> (ownership passes to the caller); a ticket is good once.</summary>
    IDeviceTensor Take(ActivationTicket ticket, IComputeBackend target);

    /// <summary>Drops every tensor still parked for the job; returns how many.</summary>
    int ReleaseJob(string jobId);

    /// <summary>Tickets issued and not yet taken or released.</summary>
    int PendingCount { get; }
}
