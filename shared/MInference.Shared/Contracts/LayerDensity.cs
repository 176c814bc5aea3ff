using System.Globalization;

namespace MInference.Shared.Contracts;

/// <summary>
/// How much attention one layer computed over a job (or one chunk): <see cref="CoveredPairs"/> (query, key)
/// pairs against the <see cref="CausalPairs"/> dense causal attention would compute, summed over the
/// layer's query heads. <see cref="Measured"/> is false when some sparse head's count is the budget
/// bound (an upper bound) rather than its actual index. The engine reports it per span and per sequence;
/// jobs carry it in their results.
/// </summary>
[GenerateSerializer, Immutable, Alias("minference.layer-density")]
public sealed record LayerDensity(
    [property: Id(0)] int Layer,
    [property: Id(1)] long CoveredPairs,
    [property: Id(2)] long CausalPairs,
    [property: Id(3)] int SparseHeads,
    [property: Id(4)] int Heads,
    [property: Id(5)] bool Measured)
{
    /// <summary>Share of causal pairs computed (1 for a dense layer).</summary>
    public double Density => CausalPairs == 0 ? 1 : (double)CoveredPairs / CausalPairs;

    /// <summary>Sums two counts of the same layer (e.g. two chunks); measured only if both were.</summary>
    public LayerDensity Add(LayerDensity other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Layer != Layer)
        {
            throw new ArgumentException($"cannot add layer {other.Layer}'s density to layer {Layer}'s", nameof(other));
        }

        return new LayerDensity(
            Layer, CoveredPairs + other.CoveredPairs, CausalPairs + other.CausalPairs, Math.Max(SparseHeads, other.SparseHeads), Heads, Measured && other.Measured);
    }

    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture, $"layer {Layer}: {Density:P2} of causal pairs ({SparseHeads}/{Heads} heads sparse{(Measured ? string.Empty : ", budget bound")})");
}
