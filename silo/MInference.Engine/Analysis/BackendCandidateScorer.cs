using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Engine.Analysis;

/// <summary>
/// Scores candidates on a compute backend through the op interface, so any backend with sparse kernels
/// (the CUDA one) can run the search's heavy part: the layer's Q/K/V are uploaded once, dense
/// <see cref="IComputeBackend.Attention"/> runs once, and each candidate runs as one
/// <see cref="IComputeBackend.SparseAttention"/> call with that candidate on every head (all heads in one
/// launch). Outputs come back to the host and each head's scored rows are compared
/// (<see cref="ScoringRows.Error"/>). The backend computes every row (a GPU does that faster than the
/// host does the sample); the error is still measured on the scored rows, so both scorers rank on the
/// same rows.
/// </summary>
public sealed class BackendCandidateScorer(IComputeBackend backend) : IPatternCandidateScorer
{
    public CandidateScore[][] Score(CapturedAttention layer, IReadOnlyList<HeadPattern> candidates, ScoringRows rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(rows);
        var span = layer.Span;
        using var query = backend.Upload(layer.Query, span.SpanLength, span.QueryStride);
        using var keys = backend.Upload(layer.Keys, span.KeyLength, span.KeyValueStride);
        using var values = backend.Upload(layer.Values, span.KeyLength, span.KeyValueStride);
        using var output = backend.Allocate(span.SpanLength, span.QueryStride);
        var arguments = new AttentionArguments(query, keys, values, output, span.SpanStart, span.QueryHeads, span.KeyValueHeads, span.HeadDim);
        var host = new float[span.SpanLength * span.QueryStride];

        backend.Attention(arguments);
        backend.Download(output, host);
        var dense = Enumerable.Range(0, span.QueryHeads).Select(head => SampledHeadRows(host, span, head, rows.Rows)).ToArray();

        var scores = new CandidateScore[span.QueryHeads][];
        for (var head = 0; head < span.QueryHeads; head++)
        {
            scores[head] = new CandidateScore[candidates.Count];
        }

        for (var c = 0; c < candidates.Count; c++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            backend.SparseAttention(arguments, [.. Enumerable.Repeat(candidates[c], span.QueryHeads)]);
            Array.Fill(host, float.NaN);
            backend.Download(output, host);
            var cost = KernelCost.Of(candidates[c], span.KeyLength);
            for (var head = 0; head < span.QueryHeads; head++)
            {
                scores[head][c] = new CandidateScore(candidates[c], rows.Error(dense[head], SampledHeadRows(host, span, head, rows.Rows), span.HeadDim), cost);
            }
        }

        return scores;
    }

    private static float[] SampledHeadRows(float[] output, in SparseSpan span, int head, int[] rows)
    {
        var d = span.HeadDim;
        var result = new float[rows.Length * d];
        for (var i = 0; i < rows.Length; i++)
        {
            output.AsSpan((rows[i] * span.QueryStride) + (head * d), d).CopyTo(result.AsSpan(i * d, d));
        }

        return result;
    }
}
