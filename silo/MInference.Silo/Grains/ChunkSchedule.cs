namespace MInference.Silo.Grains;

/// <summary>
/// Where a document's chunks start and end. Fixed-size today; the engine's cost-balanced chunk planner
/// (later chunks attend over a longer prefix, so they shrink) plugs in here, and every caller
/// (job grain, progress, KV sizing) already goes through this one list.
/// </summary>
public static class ChunkSchedule
{
    /// <summary>Consecutive spans of at most <paramref name="chunkTokens"/> tokens covering <paramref name="totalTokens"/>.</summary>
    public static IReadOnlyList<(int Start, int Length)> Fixed(int totalTokens, int chunkTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(totalTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 1);
        var spans = new List<(int, int)>((totalTokens + chunkTokens - 1) / chunkTokens);
        for (var start = 0; start < totalTokens; start += chunkTokens)
        {
            spans.Add((start, Math.Min(chunkTokens, totalTokens - start)));
        }

        return spans;
    }
}
