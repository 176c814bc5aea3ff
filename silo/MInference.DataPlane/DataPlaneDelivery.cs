namespace MInference.DataPlane;

/// <summary>
/// What a device-aware fetch brought: the receiver's own copy of the payload in device memory
/// (<see cref="Device"/>, imported through the producer's device export), or the bytes (<see cref="Bytes"/>)
/// when the device path was not offered, refused or failed (<see cref="FallbackReason"/> says why).
/// The caller owns and disposes whichever is set.
/// </summary>
public sealed class DataPlaneDelivery<T>
    where T : class
{
    private DataPlaneDelivery(T? device, ReceivedPayload? bytes, string? fallbackReason)
    {
        Device = device;
        Bytes = bytes;
        FallbackReason = fallbackReason;
    }

    public T? Device { get; }

    public ReceivedPayload? Bytes { get; }

    /// <summary>Why the bytes came instead of a device copy; null when the device path was not tried or succeeded.</summary>
    public string? FallbackReason { get; }

    internal static DataPlaneDelivery<T> OnDevice(T device) => new(device, null, null);

    internal static DataPlaneDelivery<T> AsBytes(ReceivedPayload bytes, string? fallbackReason) => new(null, bytes, fallbackReason);
}
