namespace MInference.Kernels.Sparse;

/// <summary>
/// Which query rows of a span to score when scoring every row costs too much (a 32K dense reference is
/// N²/2 pairs per head). Stratified: the span's rows are cut into <c>count</c> equal strata and one row is
/// drawn uniformly from each, so every part of the span (short and long prefixes alike) is represented
/// in proportion and the relative error over the sample estimates the error over all rows. The rows
/// scored are computed exactly (<see cref="SparseHeadPlan.AttendRows"/>); only the choice is random.
/// Deterministic for a seed.
/// </summary>
public static class QueryRowSample
{
    /// <summary>Ascending distinct rows of <c>[0, spanLength)</c>; every row when <paramref name="count"/> is at least the span.</summary>
    public static int[] Draw(int spanLength, int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(spanLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (count >= spanLength)
        {
            return [.. Enumerable.Range(0, spanLength)];
        }

        var random = new Random(seed);
        var rows = new int[count];
        for (var i = 0; i < count; i++)
        {
            var start = (int)((long)spanLength * i / count);
            var end = (int)((long)spanLength * (i + 1) / count);
            rows[i] = random.Next(start, end);
        }

        return rows;
    }
}
