using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Engine.Evaluation;

/// <summary>
/// The nominal attention density of a pattern config over a prompt: the mean over every (layer, head)
/// of the pattern's <see cref="KernelCost"/> divided by dense causal attention's, at the given length.
/// It is the share of the causal (query, key) square the kernels compute, an upper bound (touching
/// ranges are not merged); dense is 1.
/// </summary>
public static class PatternDensity
{
    public static double Of(PatternConfig? config, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        if (config is null)
        {
            return 1;
        }

        double dense = KernelCost.Of(HeadPattern.Dense, tokens);
        double sum = 0;
        for (var layer = 0; layer < config.LayerCount; layer++)
        {
            for (var head = 0; head < config.HeadCount; head++)
            {
                var pattern = config[layer, head];
                sum += pattern.Kind == SparsePatternKind.Dense ? 1 : Math.Min(1, KernelCost.Of(pattern, tokens) / dense);
            }
        }

        return sum / (config.LayerCount * config.HeadCount);
    }
}
