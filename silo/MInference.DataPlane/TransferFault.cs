namespace MInference.DataPlane;

/// <summary>Faults a test can make the listener commit while sending a payload.</summary>
internal enum TransferFault
{
    None,

    /// <summary>Flips one bit of the bytes on the wire (the parked copy stays intact).</summary>
    CorruptOneBit,

    /// <summary>Sends the header and half the payload, then closes the connection.</summary>
    DropHalfway,
}
