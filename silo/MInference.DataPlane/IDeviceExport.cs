namespace MInference.DataPlane;

/// <summary>
/// A parked payload also offered as device memory to receivers on the producer's host (a CUDA IPC export;
/// the data plane treats <see cref="Descriptor"/> as opaque bytes and knows nothing of GPUs). The store owns
/// it from publication on and disposes it when the payload is freed: acknowledged, released, expired or
/// store disposed, and never while a send of the descriptor is in progress.
/// </summary>
public interface IDeviceExport : IDisposable
{
    /// <summary>What a receiver on this host needs to open the memory (at most <see cref="MaxDescriptorLength"/> bytes).</summary>
    ReadOnlyMemory<byte> Descriptor { get; }

    /// <summary>Longest descriptor the wire carries (a two-byte length).</summary>
    const int MaxDescriptorLength = ushort.MaxValue;
}
