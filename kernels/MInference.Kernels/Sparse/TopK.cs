namespace MInference.Kernels.Sparse;

/// <summary>
/// Top-k selection shared by the estimators. Higher scores win; equal scores keep the lower index
/// (the GPU radix select must do the same so CPU and GPU indices agree). NaN ranks below everything.
/// Callers force entries by setting their score to +infinity.
/// </summary>
internal static class TopK
{
    /// <summary>The indices of the <paramref name="count"/> best scores, in ascending index order; O(n log k).</summary>
    public static int[] Select(ReadOnlySpan<float> scores, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, scores.Length);
        if (count == 0)
        {
            return [];
        }

        // The heap's root is the worst entry kept so far, so a better candidate replaces it.
        var kept = new PriorityQueue<int, (float Score, int Index)>(count, WorseFirst.Instance);
        for (var i = 0; i < scores.Length; i++)
        {
            if (kept.Count < count)
            {
                kept.Enqueue(i, (scores[i], i));
            }
            else if (WorseFirst.Instance.Compare(Peek(kept), (scores[i], i)) < 0)
            {
                kept.DequeueEnqueue(i, (scores[i], i));
            }
        }

        var selected = new int[count];
        var n = 0;
        foreach (var (index, _) in kept.UnorderedItems)
        {
            selected[n++] = index;
        }

        Array.Sort(selected);
        return selected;
    }

    private static (float Score, int Index) Peek(PriorityQueue<int, (float Score, int Index)> queue)
    {
        queue.TryPeek(out _, out var priority);
        return priority;
    }

    /// <summary>Orders (score, index) from worst to best: lower score first, then higher index first.</summary>
    private sealed class WorseFirst : IComparer<(float Score, int Index)>
    {
        public static readonly WorseFirst Instance = new();

        public int Compare((float Score, int Index) x, (float Score, int Index) y)
        {
            var byScore = x.Score.CompareTo(y.Score);
            return byScore != 0 ? byScore : y.Index.CompareTo(x.Index);
        }
    }
}
