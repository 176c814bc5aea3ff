namespace MInference.Kernels.Backends;

/// <summary>
/// One causal attention call: queries at absolute positions <c>[QueryStart, QueryStart + Query.Rows)</c>
/// attend to cache rows <c>[0, position]</c> each. Keys and values are read from KV head
/// <c>h / (QueryHeads / KeyValueHeads)</c> for query head h: K/V are never expanded.
/// </summary>
public readonly record struct AttentionArguments(
    IDeviceTensor Query,
    IDeviceTensor KeyCache,
    IDeviceTensor ValueCache,
    IDeviceTensor Output,
    long QueryStart,
    int QueryHeads,
    int KeyValueHeads,
    int HeadDim)
{
    /// <summary>Keys visible to the last query of the span.</summary>
    public long KeyLength => QueryStart + Query.Rows;

    /// <summary>1/sqrt(d), the softmax scale of every Llama-family model.</summary>
    public float Scale => 1f / MathF.Sqrt(HeadDim);
}
