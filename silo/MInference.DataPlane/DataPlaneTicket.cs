namespace MInference.DataPlane;

/// <summary>
/// A claim on a payload parked in a producer's store: the small thing a control-plane message carries.
/// <see cref="Endpoint"/> is the producer listener's "host:port".
/// </summary>
public sealed record DataPlaneTicket(Guid TransferId, string Endpoint, PayloadDescriptor Payload);
