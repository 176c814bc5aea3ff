using MInference.Shared.Models;

namespace MInference.Kernels.Backends;

/// <summary>
/// The per-pair inverse frequencies of rotary embeddings, with the model's scaling folded in, so
/// that every backend applies plain <c>angle = position * inverseFrequency[i]</c>. Computing them
/// once on the host keeps the CPU and CUDA backends bit-compatible in how they scale.
/// </summary>
public sealed class RopeFrequencies
{
    private RopeFrequencies(float[] inverseFrequencies) => InverseFrequencies = inverseFrequencies;

    /// <summary>headDim / 2 values.</summary>
    public IReadOnlyList<float> InverseFrequencies { get; }

    public ReadOnlySpan<float> AsSpan() => (float[])InverseFrequencies;

    /// <summary>
    /// Frequencies for <paramref name="spec"/>. <paramref name="sequenceLength"/> matters only for
    /// dynamic NTK scaling, whose base grows once the sequence passes the original context.
    /// </summary>
    public static RopeFrequencies For(ModelSpec spec, long sequenceLength = 0)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var headDim = spec.HeadDim;
        if (headDim <= 0 || headDim % 2 != 0)
        {
            throw new ArgumentException($"head_dim {headDim} must be positive and even for RoPE", nameof(spec));
        }

        double theta = spec.RopeTheta;
        var scaling = spec.RopeScaling;
        if (scaling is { Type: RopeScalingType.DynamicNtk } && sequenceLength > spec.MaxPositionEmbeddings)
        {
            // HF's dynamic NTK: base *= ((factor * len / max_pos) - (factor - 1)) ^ (d / (d - 2)).
            double factor = scaling.Factor;
            var ratio = (factor * sequenceLength / spec.MaxPositionEmbeddings) - (factor - 1);
            theta *= Math.Pow(ratio, headDim / (headDim - 2.0));
        }

        var inverse = new float[headDim / 2];
        for (var i = 0; i < inverse.Length; i++)
        {
            var frequency = 1.0 / Math.Pow(theta, 2.0 * i / headDim);
            inverse[i] = (float)Scale(frequency, scaling);
        }

        return new RopeFrequencies(inverse);
    }

    private static double Scale(double frequency, RopeScaling? scaling)
    {
        switch (scaling?.Type)
        {
            case null or RopeScalingType.DynamicNtk:
                return frequency;
            case RopeScalingType.Linear:
                return frequency / scaling.Factor;
            case RopeScalingType.Llama3:
                // Llama 3.1: long wavelengths slow down by `factor`, short ones stay, a smooth ramp between.
                double lowWavelength = scaling.OriginalMaxPositionEmbeddings / scaling.LowFrequencyFactor;
                double highWavelength = scaling.OriginalMaxPositionEmbeddings / scaling.HighFrequencyFactor;
                var wavelength = 2 * Math.PI / frequency;
                if (wavelength < highWavelength)
                {
                    return frequency;
                }

                if (wavelength > lowWavelength)
                {
                    return frequency / scaling.Factor;
                }

                var smooth = ((scaling.OriginalMaxPositionEmbeddings / wavelength) - scaling.LowFrequencyFactor)
                    / (scaling.HighFrequencyFactor - scaling.LowFrequencyFactor);
                return ((1 - smooth) * frequency / scaling.Factor) + (smooth * frequency);
            default:
                throw new ArgumentOutOfRangeException(nameof(scaling), scaling.Type, "unknown RoPE scaling type");
        }
    }
}
