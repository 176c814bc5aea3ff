namespace MInference.Kernels.Cuda.Transfer;

/// <summary>How <see cref="DeviceHandOff"/> moves a tensor from a source backend to its target.</summary>
public enum HandOffRoute
{
    /// <summary>Source and target are the same backend: the tensor itself changes hands, nothing is copied.</summary>
    Ownership,

    /// <summary>Another backend on the same device: one device-to-device copy on the copy stream.</summary>
    SameDevice,

    /// <summary>Another device with peer access (cuDeviceCanAccessPeer): cuMemcpyPeerAsync over NVLink/PCIe.</summary>
    Peer,

    /// <summary>Another device without peer access: device to pinned host memory, then host to device.</summary>
    HostStaged,
}
