using MInference.Kernels.Backends;

namespace MInference.Engine;

/// <summary>One decoder layer's weights on a backend.</summary>
internal sealed class LayerWeights : IDisposable
{
    public required IDeviceTensor InputNorm { get; init; }

    public required IDeviceTensor Query { get; init; }

    public required IDeviceTensor Key { get; init; }

    public required IDeviceTensor Value { get; init; }

    public IDeviceTensor? QueryBias { get; init; }

    public IDeviceTensor? KeyBias { get; init; }

    public IDeviceTensor? ValueBias { get; init; }

    public required IDeviceTensor Output { get; init; }

    public required IDeviceTensor PostAttentionNorm { get; init; }

    public required IDeviceTensor Gate { get; init; }

    public required IDeviceTensor Up { get; init; }

    public required IDeviceTensor Down { get; init; }

    public void Dispose()
    {
        foreach (var tensor in new[] { InputNorm, Query, Key, Value, QueryBias, KeyBias, ValueBias, Output, PostAttentionNorm, Gate, Up, Down })
        {
            tensor?.Dispose();
        }
    }
}
