namespace MInference.DataPlane;

/// <summary>Why a listener answered a device fetch with bytes-only (the code travels in the refusal).</summary>
public enum DeviceRefusal : byte
{
    /// <summary>Not refused.</summary>
    None = 0,

    /// <summary>The listener speaks another device protocol version: every later fetch from it would be refused too.</summary>
    Version = 1,

    /// <summary>Device IPC is switched off on the listener.</summary>
    Off = 2,

    /// <summary>The receiver is on another host: device handles mean nothing there.</summary>
    OtherHost = 3,

    /// <summary>This payload has no device export (a CPU producer); the next one may have.</summary>
    HostMemoryOnly = 4,
}
