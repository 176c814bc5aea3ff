using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Cpu;

/// <summary>
/// The CPU backend's sparse attention op: each query head estimates and attends with its own pattern
/// through <see cref="SparseHeadPlan"/> (the reference algorithms), one head per worker. Heads write
/// disjoint columns of the output, so they need no coordination. When the pattern list is a
/// <see cref="HeadPatternCoverage"/>, each head records the pairs it computed (measured density).
/// </summary>
internal static class CpuSparseAttention
{
    public static void Run(
        in AttentionArguments arguments, CpuTensor query, CpuTensor keys, CpuTensor values, CpuTensor output, IReadOnlyList<HeadPattern> headPatterns, ParallelOptions parallel)
    {
        ArgumentNullException.ThrowIfNull(headPatterns);
        var a = arguments;
        if (headPatterns.Count != a.QueryHeads)
        {
            throw new ArgumentException($"{headPatterns.Count} head patterns given for {a.QueryHeads} query heads", nameof(headPatterns));
        }

        if (query.Columns != a.QueryHeads * a.HeadDim || output.Rows != query.Rows || output.Columns != query.Columns)
        {
            throw new ArgumentException(
                $"query [{query.Rows}, {query.Columns}] and output [{output.Rows}, {output.Columns}] must both be [rows, {a.QueryHeads} heads x {a.HeadDim}]", nameof(arguments));
        }

        if (keys.Columns != a.KeyValueHeads * a.HeadDim || values.Columns != keys.Columns)
        {
            throw new ArgumentException(
                $"KV caches have {keys.Columns} and {values.Columns} columns but {a.KeyValueHeads} heads x {a.HeadDim} need {a.KeyValueHeads * a.HeadDim}", nameof(arguments));
        }

        if (a.QueryStart < 0 || a.KeyLength > Math.Min(keys.Rows, values.Rows) || a.KeyLength > int.MaxValue)
        {
            throw new ArgumentException(
                $"queries at [{a.QueryStart}, {a.KeyLength}) need {a.KeyLength} cache rows (at most {int.MaxValue}) but the caches hold {Math.Min(keys.Rows, values.Rows)}", nameof(arguments));
        }

        var span = new SparseSpan(a.QueryHeads, a.KeyValueHeads, a.HeadDim, (int)a.QueryStart, checked((int)query.Rows));
        span.Validate(0);

        // The sparse functions read only rows [0, KeyLength) of the caches: hand them exactly those.
        var keyRows = keys.Slice(0, span.KeyLength);
        var valueRows = values.Slice(0, span.KeyLength);
        var coverage = headPatterns as HeadPatternCoverage;
        Parallel.For(0, a.QueryHeads, parallel, head =>
        {
            var plan = SparseHeadPlan.Estimate(headPatterns[head], query.AsSpan(), keyRows.AsSpan(), span, head);
            plan.Attend(query.AsSpan(), keyRows.AsSpan(), valueRows.AsSpan(), output.AsSpan(), head);
            coverage?.Record(head, plan.Kind, plan.CoveredPairs());
        });
    }
}
