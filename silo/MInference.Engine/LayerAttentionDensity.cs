using System.Globalization;

namespace MInference.Engine;

/// <summary>
/// How much attention one layer computed, summed over its query heads and over the spans counted:
/// <see cref="CoveredPairs"/> (query, key) pairs computed against <see cref="CausalPairs"/>, the pairs dense
/// causal attention would compute. <see cref="Measured"/> is true when every sparse head's count came from
/// its actual index (the CPU backend records it); false when some came from the budget bound of
/// <c>SpanAttentionCost</c> (an upper bound). Dense heads count their causal pairs exactly.
/// </summary>
public sealed record LayerAttentionDensity(int Layer, long CoveredPairs, long CausalPairs, int SparseHeads, int Heads, bool Measured)
{
    /// <summary>Share of causal pairs computed (1 for a dense layer).</summary>
    public double Density => CausalPairs == 0 ? 1 : (double)CoveredPairs / CausalPairs;

    /// <summary>Sums two counts of the same layer (e.g. two spans); measured only if both were.</summary>
    public LayerAttentionDensity Add(LayerAttentionDensity other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Layer != Layer)
        {
            throw new ArgumentException($"cannot add layer {other.Layer}'s density to layer {Layer}'s", nameof(other));
        }

        return new LayerAttentionDensity(
            Layer, CoveredPairs + other.CoveredPairs, CausalPairs + other.CausalPairs, Math.Max(SparseHeads, other.SparseHeads), Heads, Measured && other.Measured);
    }

    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture, $"layer {Layer}: {Density:P2} of causal pairs ({SparseHeads}/{Heads} heads sparse{(Measured ? string.Empty : ", budget bound")})");
}
