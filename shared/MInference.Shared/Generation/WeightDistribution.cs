using MInference.Shared.Models;

namespace MInference.Shared.Generation;

/// <summary>Uniform on (Offset - HalfWidth, Offset + HalfWidth).</summary>
public readonly record struct WeightDistribution(float HalfWidth, float Offset)
{
    /// <summary>sqrt(3): a uniform of half-width a has standard deviation a / sqrt(3).</summary>
    private const double UniformStdToHalfWidth = 1.7320508075688772;

    /// <summary>Half-width of the noise around 1 on RMSNorm weights: near 1, but a kernel that ignores them is caught.</summary>
    private const float NormWeightNoise = 0.1f;

    /// <summary>Std of Qwen2's q/k/v biases: visible in the output, small next to the O(1) projections.</summary>
    private const double BiasStd = 0.2;

    /// <summary>Target std of logits when the LM head is the (tied) embedding: peaked but far from one-hot.</summary>
    private const double TiedLogitStd = 3.0;

    public static WeightDistribution ZeroMeanWithStd(double std) => new((float)(std * UniformStdToHalfWidth), 0f);

    /// <summary>
    /// The distribution of one tensor of a generated model, chosen so that hidden states keep an O(1)
    /// RMS through any number of layers and attention is neither uniform nor one-hot:
    /// <list type="bullet">
    /// <item>embedding std 1 (hidden-state RMS starts at 1); when tied to the LM head, std
    /// 3/sqrt(hidden) instead, so logits = normed hidden · embedding have std ≈ 3, and the residual
    /// scale below shrinks with it;</item>
    /// <item>RMSNorm weights 1 ± 0.1;</item>
    /// <item>q/k/v, gate, up and an untied LM head: std 1/sqrt(fan_in), so their outputs have std ≈ 1
    /// after a norm (attention scores q·k/sqrt(d) of std ≈ 1: soft but informative attention);</item>
    /// <item>o_proj and down_proj, which write into the residual stream: std
    /// residualScale / sqrt(fan_in) / sqrt(2·layers), so the 2·layers updates add up to a variance of
    /// about residualScale², the same as the embedding's, however deep the model;</item>
    /// <item>q/k/v biases std 0.2.</item>
    /// </list>
    /// </summary>
    public static WeightDistribution For(ModelSpec spec, string tensorName, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var fanIn = shape.Length == 2 ? shape[1] : 1;
        var residualScale = spec.TieWordEmbeddings ? TiedLogitStd / Math.Sqrt(spec.HiddenSize) : 1.0;
        var depthScale = 1.0 / Math.Sqrt(2.0 * spec.LayerCount);

        if (tensorName == ModelTensorNames.Embedding)
        {
            return ZeroMeanWithStd(residualScale);
        }

        if (tensorName.EndsWith("norm.weight", StringComparison.Ordinal))
        {
            return new WeightDistribution(NormWeightNoise, 1f);
        }

        if (tensorName.EndsWith(".bias", StringComparison.Ordinal))
        {
            return ZeroMeanWithStd(BiasStd);
        }

        if (tensorName.EndsWith("o_proj.weight", StringComparison.Ordinal) || tensorName.EndsWith("down_proj.weight", StringComparison.Ordinal))
        {
            return ZeroMeanWithStd(residualScale * depthScale / Math.Sqrt(fanIn));
        }

        // q/k/v, gate, up, lm_head.
        return ZeroMeanWithStd(1.0 / Math.Sqrt(fanIn));
    }
}
