namespace MInference.Shared.Contracts;

/// <summary>
/// A claim on hidden states parked in a silo's data plane: what grain calls carry instead of the bytes.
/// The receiver takes the tensor with it from the source silo's activation channel: in process when it
/// runs on <see cref="SourceSilo"/>, otherwise by pulling the bytes from <see cref="SourceEndpoint"/>
/// (the source silo's TCP data-plane listener, "host:port"; null when the tensor was parked in process).
/// </summary>
[GenerateSerializer, Immutable, Alias("minference.activation-ticket")]
public sealed record ActivationTicket(
    [property: Id(0)] Guid TransferId,
    [property: Id(1)] string JobId,
    [property: Id(2)] int ChunkIndex,
    [property: Id(3)] long Rows,
    [property: Id(4)] int Columns,
    [property: Id(5)] string DType,
    [property: Id(6)] long ByteLength,
    [property: Id(7)] string SourceSilo,
    [property: Id(8)] string? SourceEndpoint = null);
