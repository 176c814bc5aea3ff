using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Engine.Analysis;

/// <summary>One head's configured pattern measured against dense attention on the analysed input.</summary>
public sealed record HeadFidelityRow(int Layer, int Head, HeadPattern Pattern, SparsePatternKind RanAs, double RelativeError, double Recall, double Density);

/// <summary>A layer's heads in one line: mean and worst error, mean recall, density over all its heads' causal pairs.</summary>
public sealed record LayerFidelitySummary(int Layer, double MeanError, double MaxError, double MeanRecall, double Density);

/// <summary>Per-head fidelity and density of a pattern config on one input (issue 3 item 6).</summary>
public sealed record FidelityReport(int Tokens, IReadOnlyList<HeadFidelityRow> Heads)
{
    public IReadOnlyList<LayerFidelitySummary> Layers => [.. Heads
        .GroupBy(h => h.Layer)
        .OrderBy(g => g.Key)
        .Select(g => new LayerFidelitySummary(
            g.Key, g.Average(h => h.RelativeError), g.Max(h => h.RelativeError), g.Average(h => h.Recall), g.Average(h => h.Density)))];
}

/// <summary>
/// Measures every (layer, head) of a <see cref="PatternConfig"/> on one input: the model runs the
/// input densely (<see cref="ReferencePass"/>) and, at each layer, every head's pattern is estimated and
/// attended on that layer's Q/K/V and compared with the head's dense output.
/// </summary>
public static class PatternFidelityAnalyzer
{
    public static FidelityReport Analyze(
        IModelWeights weights, IComputeBackend backend, PatternConfig config, ReadOnlySpan<int> tokens, IProgress<int>? layersDone = null, CancellationToken cancellationToken = default)
        => Analyze(weights, backend, config, tokens, sampledRows: null, seed: 0, layersDone, cancellationToken);

    /// <summary>
    /// With <paramref name="sampledRows"/>, error and recall are measured on a seeded stratified sample of
    /// that many query rows per layer (exact for those rows, <see cref="QueryRowSample"/>), density on every
    /// row; null measures every row.
    /// </summary>
    public static FidelityReport Analyze(
        IModelWeights weights,
        IComputeBackend backend,
        PatternConfig config,
        ReadOnlySpan<int> tokens,
        int? sampledRows,
        int seed,
        IProgress<int>? layersDone = null,
        CancellationToken cancellationToken = default)
    {
        if (sampledRows < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(sampledRows), sampledRows, "the row sample must hold at least 1 row");
        }

        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(config);
        var spec = weights.Spec;
        config.EnsureFits(spec.LayerCount, spec.QueryHeadCount, spec.Architecture);
        var rows = new List<HeadFidelityRow>(spec.LayerCount * spec.QueryHeadCount);
        ReferencePass.Run(weights, backend, tokens, (layer, call) =>
        {
            var layerRows = new HeadFidelityRow[call.Span.QueryHeads];
            var sample = QueryRowSample.Draw(call.Span.SpanLength, sampledRows ?? call.Span.SpanLength, seed + layer);
            Parallel.For(0, call.Span.QueryHeads, new ParallelOptions { CancellationToken = cancellationToken }, head =>
            {
                var pattern = config[layer, head];
                var fidelity = HeadFidelity.MeasureRows(pattern, call.Query, call.Keys, call.Values, call.Span, head, sample);
                layerRows[head] = new HeadFidelityRow(layer, head, pattern, fidelity.Kind, fidelity.RelativeError, fidelity.Recall, fidelity.Density);
            });
            rows.AddRange(layerRows);
            layersDone?.Report(layer + 1);
        }, cancellationToken);
        return new FidelityReport(tokens.Length, rows);
    }
}
