using MInference.Engine.Planning;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Silo.Grains;

/// <summary>
/// Where a document's chunks start and end: fixed-size, or cost-balanced by the engine's
/// <see cref="ChunkPlanner"/> (later chunks attend over a longer prefix, so they shrink to keep each
/// chunk's cost about even). Every caller (job grain, progress, KV sizing) goes through this one list.
/// </summary>
public static class ChunkSchedule
{
    /// <summary>Consecutive spans of at most <paramref name="chunkTokens"/> tokens covering <paramref name="totalTokens"/>.</summary>
    public static int[] Fixed(int totalTokens, int chunkTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(totalTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 1);
        var lengths = new int[(totalTokens + chunkTokens - 1) / chunkTokens];
        for (var i = 0; i < lengths.Length; i++)
        {
            lengths[i] = Math.Min(chunkTokens, totalTokens - (i * chunkTokens));
        }

        return lengths;
    }

    /// <summary>
    /// About as many chunks as fixed chunks of <paramref name="chunkTokens"/> would make, of equal modelled
    /// cost under <paramref name="patterns"/>; sizes are multiples of 64 between 64 and
    /// <paramref name="maxChunkTokens"/> (rounded down to 64), the last takes what is left.
    /// </summary>
    public static int[] Balanced(ModelSpec spec, PatternConfig? patterns, int totalTokens, int chunkTokens, int maxChunkTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(totalTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 1);
        const int step = ChunkPlannerOptions.Granularity;
        var options = new ChunkPlannerOptions { MinChunkTokens = step, MaxChunkTokens = Math.Max(step, maxChunkTokens / step * step) };
        var model = new ChunkCostModel(spec, patterns);
        var count = (totalTokens + chunkTokens - 1) / chunkTokens;
        var plan = ChunkPlanner.Plan(model, totalTokens, ChunkPlanner.TargetForChunkCount(model, totalTokens, count), options);
        return [.. plan.Lengths];
    }

    /// <summary>(start, length) of each chunk.</summary>
    public static IReadOnlyList<(int Start, int Length)> Spans(IReadOnlyList<int> lengths)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        var spans = new List<(int, int)>(lengths.Count);
        var start = 0;
        foreach (var length in lengths)
        {
            spans.Add((start, length));
            start += length;
        }

        return spans;
    }
}
