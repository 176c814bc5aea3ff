using MInference.Kernels.Sparse;

namespace MInference.Kernels.Cuda;

/// <summary>
/// The fixed index distributions of DESIGN section 6 that kernel benchmarks run on (same seed, same
/// index, so runs compare), for one query head of a whole-prompt span.
/// </summary>
public static class RealisticSparseIndex
{
    /// <summary>
    /// Vertical-Slash <c>realistic</c>: verticals = the 30 sink columns plus uniformly random columns up to
    /// <paramref name="verticals"/>; slashes = offsets 0..99 plus, of the rest, 80% uniform in [100, 8192)
    /// and 20% log-uniform in [1, N) (draws repeat until the counts are reached).
    /// </summary>
    public static VerticalSlashSelection VerticalSlash(Random random, int tokens, int verticals, int slashes)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        verticals = Math.Min(tokens, Math.Max(1, verticals));
        slashes = Math.Min(tokens, Math.Max(1, slashes));
        var columns = new SortedSet<int>(Enumerable.Range(0, Math.Min(VerticalSlashEstimator.SinkColumns, verticals)));
        while (columns.Count < verticals)
        {
            columns.Add(random.Next(tokens));
        }

        var offsets = new SortedSet<int>(Enumerable.Range(0, Math.Min(VerticalSlashEstimator.LocalOffsets, slashes)));
        while (offsets.Count < slashes)
        {
            var o = random.NextDouble() < 0.8 && tokens > VerticalSlashEstimator.LocalOffsets
                ? random.Next(VerticalSlashEstimator.LocalOffsets, Math.Min(8192, tokens))
                : (int)Math.Min(tokens - 1, Math.Floor(Math.Exp(random.NextDouble() * Math.Log(tokens))));
            offsets.Add(o);
        }

        return new VerticalSlashSelection(0, tokens, [.. columns], [.. offsets]);
    }

    /// <summary>
    /// Block-Sparse (DESIGN gives no distribution; this one is ours): per query block its own block, block 0
    /// and uniformly random earlier blocks, <paramref name="blocks"/> in all where there are that many.
    /// </summary>
    public static BlockSparseIndex BlockSparse(Random random, int tokens, int blocks)
    {
        ArgumentNullException.ThrowIfNull(random);
        var queryBlocks = (tokens + SparseSpan.QueryBlock - 1) / SparseSpan.QueryBlock;
        var offsets = new int[queryBlocks + 1];
        var chosen = new List<int>(queryBlocks * Math.Min(blocks, queryBlocks));
        var set = new SortedSet<int>();
        for (var b = 0; b < queryBlocks; b++)
        {
            set.Clear();
            set.Add(b);
            set.Add(0);
            while (set.Count < Math.Min(blocks, b + 1))
            {
                set.Add(random.Next(b));
            }

            chosen.AddRange(set);
            offsets[b + 1] = chosen.Count;
        }

        return new BlockSparseIndex(0, tokens, offsets, [.. chosen]);
    }
}
