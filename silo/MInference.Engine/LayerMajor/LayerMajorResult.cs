using MInference.Shared.Contracts;

namespace MInference.Engine.LayerMajor;

/// <summary>A layer-major pre-fill's last-position logits and each layer's attention density, in layer order.</summary>
public sealed record LayerMajorResult(float[] Logits, IReadOnlyList<LayerDensity> Densities)
{
    /// <summary>Mean over layers of each layer's density (pairs computed / causal pairs).</summary>
    public double MeanDensity => Densities.Count == 0 ? 1 : Densities.Average(d => d.Density);

    /// <summary>True when every layer's pairs were counted from its indices, not bounded from budgets.</summary>
    public bool DensityMeasured => Densities.All(d => d.Measured);
}
