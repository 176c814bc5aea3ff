using System.Net;

namespace MInference.DataPlane;

/// <summary>Settings of one silo's data plane; <see cref="Validate"/> names the first bad value.</summary>
public sealed class DataPlaneOptions
{
    /// <summary>Address the listener binds: "127.0.0.1" for one machine, "0.0.0.0" or "::" for all interfaces.</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    /// <summary>TCP port of the listener; 0 picks a free one (tests).</summary>
    public int Port { get; set; }

    /// <summary>Host name or address other silos use to reach this listener; empty means <see cref="ListenAddress"/>.</summary>
    public string AdvertisedHost { get; set; } = "";

    /// <summary>Bytes the store may hold before publishers wait (backpressure).</summary>
    public long MaxParkedBytes { get; set; } = 2L << 30;

    /// <summary>Tickets the store may hold before publishers wait: the window of outstanding transfers.</summary>
    public int MaxParkedTickets { get; set; } = 8;

    /// <summary>Size of the pieces a payload is written to the socket in.</summary>
    public int ChunkBytes { get; set; } = 1 << 20;

    /// <summary>How long a payload stays parked unfetched before it expires and is freed.</summary>
    public TimeSpan ParkedLifetime { get; set; } = TimeSpan.FromMinutes(10);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Limit for one whole fetch (connect, header, payload, acknowledgement).</summary>
    public TimeSpan TransferTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Element type activations cross silos in: <c>Auto</c> (default: bf16 from GPU stages, whose activations
    /// are bf16 already, so nothing is lost; f32 from CPU stages, so CPU results stay bit-identical to one
    /// process), <c>F32</c>, or <c>BF16</c> (half the bytes; CPU stages' values rounded to nearest-even,
    /// relative error at most 2^-8 per element).
    /// </summary>
    public string ActivationDType { get; set; } = ActivationWire.Auto;

    /// <summary>
    /// Offer and use CUDA IPC between processes of one host (default true): a receiver with a GPU asks for a
    /// payload that lives on the producer's GPU as a device handle instead of bytes, and falls back to the
    /// TCP byte pull whenever that fails.
    /// </summary>
    public bool DeviceIpc { get; set; } = true;

    /// <summary>
    /// This process's host identity for the same-host check of <see cref="DeviceIpc"/>; empty (default) means
    /// <see cref="HostIdentity.Current"/>. Printable ASCII, at most <see cref="HostIdentity.MaxLength"/> characters.
    /// </summary>
    public string HostId { get; set; } = "";

    public void Validate()
    {
        if (HostId.Length > HostIdentity.MaxLength || HostId.Any(c => c is < ' ' or > '~'))
        {
            throw new ArgumentException($"DataPlane:HostId '{HostId}' must be printable ASCII of at most {HostIdentity.MaxLength} characters", nameof(HostId));
        }

        if (ActivationDType is not (ActivationWire.Auto or ActivationWire.F32 or ActivationWire.BF16))
        {
            throw new ArgumentException(
                $"DataPlane:ActivationDType '{ActivationDType}' must be {ActivationWire.Auto}, {ActivationWire.F32} or {ActivationWire.BF16}",
                nameof(ActivationDType));
        }

        if (!IPAddress.TryParse(ListenAddress, out _))
        {
            throw new ArgumentException($"DataPlane:ListenAddress '{ListenAddress}' is not an IP address", nameof(ListenAddress));
        }

        if (Port is < 0 or > IPEndPoint.MaxPort)
        {
            throw new ArgumentOutOfRangeException(nameof(Port), Port, $"DataPlane:Port must be 0..{IPEndPoint.MaxPort}");
        }

        if (MaxParkedBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxParkedBytes), MaxParkedBytes, "DataPlane:MaxParkedBytes must be at least 1");
        }

        if (MaxParkedTickets < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxParkedTickets), MaxParkedTickets, "DataPlane:MaxParkedTickets must be at least 1");
        }

        if (ChunkBytes is < 4096 or > (64 << 20))
        {
            throw new ArgumentOutOfRangeException(nameof(ChunkBytes), ChunkBytes, "DataPlane:ChunkBytes must be 4096..67108864");
        }

        if (ParkedLifetime <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ParkedLifetime), ParkedLifetime, "DataPlane:ParkedLifetime must be positive");
        }

        if (ConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), ConnectTimeout, "DataPlane:ConnectTimeout must be positive");
        }

        if (TransferTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(TransferTimeout), TransferTimeout, "DataPlane:TransferTimeout must be positive");
        }
    }
}
