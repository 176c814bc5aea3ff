using System.Diagnostics;
using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>One pattern at one length: index estimation and attention time, density and error against dense.</summary>
public sealed record SparseCpuMeasurement(
    int Tokens, string Pattern, string RanAs, double EstimateMilliseconds, double AttendMilliseconds, double Density, double RelativeError)
{
    public double TotalMilliseconds => EstimateMilliseconds + AttendMilliseconds;
}

/// <summary>
/// Times each pattern's reference CPU path (estimate + attend, one head, one thread) against dense on
/// synthetic planted inputs (<see cref="SyntheticAttentionInputs"/> defaults: 4 sinks, 16 needles,
/// slashes every 512 positions, d = 128), so the sparse path's cost can be seen to fall with density.
/// Two dense rows: the same reference kernel visiting every causal key (like for like), and the CPU
/// backend's optimised dense attention on one thread (what a dense layer costs in the engine).
/// A benchmark, not a test: one timed run after a warm-up at a short length.
/// </summary>
public static class SparseCpuBenchmark
{
    public static IReadOnlyList<HeadPattern> DefaultPatterns { get; } =
    [
        HeadPattern.AShape(128, 3968),
        HeadPattern.VerticalSlash(1000, 6096),
        HeadPattern.VerticalSlash(500, 1500),
        HeadPattern.VerticalSlash(30, 800),
        HeadPattern.BlockSparse(100),
        HeadPattern.BlockSparse(16),
    ];

    public static IReadOnlyList<SparseCpuMeasurement> Measure(int tokens, IReadOnlyList<HeadPattern> patterns, int seed = 1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        var inputs = SyntheticAttentionInputs.Create(new SyntheticPatternOptions { Tokens = tokens, Seed = seed });
        var span = inputs.Span;
        var results = new List<SparseCpuMeasurement>();

        var watch = Stopwatch.StartNew();
        var dense = HeadFidelity.DenseOutput(inputs.Query, inputs.Keys, inputs.Values, span, 0);
        results.Add(new SparseCpuMeasurement(tokens, "dense (reference kernel)", "Dense", 0, watch.Elapsed.TotalMilliseconds, 1, 0));

        results.Add(MeasureBackendDense(inputs));
        foreach (var pattern in patterns)
        {
            cancellationToken.ThrowIfCancellationRequested();
            watch.Restart();
            var plan = SparseHeadPlan.Estimate(pattern, inputs.Query, inputs.Keys, span, 0);
            var estimate = watch.Elapsed.TotalMilliseconds;
            var output = new float[inputs.Query.Length];
            watch.Restart();
            plan.Attend(inputs.Query, inputs.Keys, inputs.Values, output, 0);
            var attend = watch.Elapsed.TotalMilliseconds;
            var density = (double)plan.CoveredPairs() / SparseCoverage.CausalPairsOf(0, tokens);
            results.Add(new SparseCpuMeasurement(tokens, pattern.ToString(), plan.Kind.ToString(), estimate, attend, density, HeadFidelity.RelativeL2(dense, output)));
        }

        return results;
    }

    /// <summary>JITs every path once on a short input so the timed runs measure steady-state code.</summary>
    public static void WarmUp(IReadOnlyList<HeadPattern> patterns) => Measure(2048, patterns);

    private static SparseCpuMeasurement MeasureBackendDense(SyntheticAttentionInputs inputs)
    {
        var span = inputs.Span;
        using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 1 });
        using var query = backend.Upload(inputs.Query, span.SpanLength, span.QueryStride);
        using var keys = backend.Upload(inputs.Keys, span.KeyLength, span.KeyValueStride);
        using var values = backend.Upload(inputs.Values, span.KeyLength, span.KeyValueStride);
        using var output = backend.Allocate(span.SpanLength, span.QueryStride);
        var watch = Stopwatch.StartNew();
        backend.Attention(new AttentionArguments(query, keys, values, output, 0, 1, 1, span.HeadDim));
        return new SparseCpuMeasurement(span.SpanLength, "dense (CPU backend, 1 thread)", "Dense", 0, watch.Elapsed.TotalMilliseconds, 1, 0);
    }
}
