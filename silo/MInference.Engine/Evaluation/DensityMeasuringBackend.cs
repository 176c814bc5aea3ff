using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Engine.Evaluation;

/// <summary>
/// Wraps a backend and counts, over the pre-fill attention calls (spans of more than one query), the
/// (query, key) pairs the kernels compute against the causal pairs: dense calls count every causal pair;
/// sparse calls re-estimate each head's plan on the host (<see cref="SparseHeadPlan"/>, the same estimate
/// the kernel makes from the same Q/K) and count its covered pairs. Decode steps are not counted. The
/// re-estimate costs one more index estimate per head: an evaluation tool, not a serving path.
/// </summary>
public sealed class DensityMeasuringBackend(IComputeBackend inner) : ForwardingComputeBackend(inner)
{
    private long _covered;
    private long _causal;

    /// <summary>Covered over causal pairs since the last <see cref="Reset"/>; 1 when nothing was counted.</summary>
    public double Density => _causal == 0 ? 1 : (double)_covered / _causal;

    public void Reset()
    {
        _covered = 0;
        _causal = 0;
    }

    public override void Attention(in AttentionArguments arguments)
    {
        if (arguments.Query.Rows > 1)
        {
            var causal = SparseCoverage.CausalPairsOf(checked((int)arguments.QueryStart), checked((int)arguments.Query.Rows)) * arguments.QueryHeads;
            _covered += causal;
            _causal += causal;
        }

        Inner.Attention(arguments);
    }

    public override void SparseAttention(in AttentionArguments arguments, IReadOnlyList<HeadPattern> headPatterns)
    {
        ArgumentNullException.ThrowIfNull(headPatterns);
        var a = arguments;
        var span = new SparseSpan(a.QueryHeads, a.KeyValueHeads, a.HeadDim, checked((int)a.QueryStart), checked((int)a.Query.Rows));
        var query = DownloadRows(a.Query, span.SpanLength);
        var keys = DownloadRows(a.KeyCache, span.KeyLength);
        var covered = new long[a.QueryHeads];
        Parallel.For(0, a.QueryHeads, head => covered[head] = SparseHeadPlan.Estimate(headPatterns[head], query, keys, span, head).CoveredPairs());
        _covered += covered.Sum();
        _causal += SparseCoverage.CausalPairsOf(span.SpanStart, span.SpanLength) * a.QueryHeads;
        Inner.SparseAttention(arguments, headPatterns);
    }
}
