using MInference.Kernels.Backends;
using MInference.Shared.Contracts;

namespace MInference.Engine;

/// <summary>
/// One sequence's state on one stage: a K and a V cache <c>[Capacity, kvHeads * headDim]</c> per owned
/// layer, and how many tokens they hold. Made by <see cref="ModelShard.CreateSequence"/>; a span
/// advances <see cref="Length"/> only once it has gone through every owned layer.
/// </summary>
public sealed class SequenceKvCache : IDisposable
{
    private readonly IDeviceTensor[] _keys;
    private readonly IDeviceTensor[] _values;
    private LayerDensity[]? _density;

    internal SequenceKvCache(ModelShard owner, long capacity, IDeviceTensor[] keys, IDeviceTensor[] values, RopeFrequencies frequencies)
    {
        Owner = owner;
        Capacity = capacity;
        _keys = keys;
        _values = values;
        RopeFrequencies = frequencies;
    }

    /// <summary>Tokens the caches can hold.</summary>
    public long Capacity { get; }

    /// <summary>Tokens already in the caches: the position of the next span's first token.</summary>
    public long Length { get; internal set; }

    /// <summary>
    /// Per owned layer, the attention pairs computed over every span this sequence has run (pre-fill and
    /// decode), summed: the density a run reports.
    /// </summary>
    public IReadOnlyList<LayerDensity> AttentionDensity => _density ?? [];

    /// <summary>The layers whose caches this holds.</summary>
    public LayerRange Layers => Owner.Layers;

    internal ModelShard Owner { get; }

    /// <summary>Fixed per sequence (dynamic NTK scaling is taken at the capacity), so chunking cannot change positions' angles.</summary>
    internal RopeFrequencies RopeFrequencies { get; }

    /// <summary>The K cache of absolute layer <paramref name="layer"/>.</summary>
    public IDeviceTensor KeyCache(int layer) => _keys[Index(layer)];

    /// <summary>The V cache of absolute layer <paramref name="layer"/>.</summary>
    public IDeviceTensor ValueCache(int layer) => _values[Index(layer)];

    public void Dispose()
    {
        foreach (var tensor in _keys.Concat(_values))
        {
            tensor.Dispose();
        }
    }

    internal void AddAttentionDensity(LayerDensity[] span)
        => _density = _density is null ? [.. span] : [.. _density.Zip(span, (total, next) => total.Add(next))];

    private int Index(int layer)
    {
        if (!Layers.Contains(layer))
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"layer {layer} is not in this stage's layers {Layers}");
        }

        return layer - Layers.Start;
    }
}
