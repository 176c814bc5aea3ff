namespace MInference.Kernels.Sparse;

/// <summary>
/// Top-k selection shared by the estimators. Higher scores win; equal scores keep the lower index
/// (the GPU radix select must do the same so CPU and GPU indices agree). NaN ranks below everything.
/// Callers force entries by setting their score to +infinity.
/// </summary>
internal static class TopK
{
    /// <summary>The indices of the <paramref name="count"/> best scores, in ascending index order.</summary>
    public static int[] Select(ReadOnlySpan<float> scores, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, scores.Length);
        var keys = scores.ToArray();
        var order = new int[keys.Length];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        Array.Sort(order, (a, b) =>
        {
            var byScore = keys[b].CompareTo(keys[a]);
            return byScore != 0 ? byScore : a.CompareTo(b);
        });
        var selected = order.AsSpan(0, count).ToArray();
        Array.Sort(selected);
        return selected;
    }
}
