using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;

namespace MInference.Engine.Analysis;

/// <summary>One attention call's inputs on the host: the span's queries and the cache rows it reads.</summary>
public sealed record CapturedAttention(int CallIndex, SparseSpan Span, float[] Query, float[] Keys, float[] Values);

/// <summary>
/// Wraps a backend and hands every <see cref="IComputeBackend.Attention"/> call's inputs, downloaded
/// to the host, to an observer before running it. The analysis and search tools use it to see each
/// layer's Q/K/V of a dense pass without the model runtime knowing: with one whole-prompt span through
/// one shard, call i is layer i. Every other op passes straight through.
/// </summary>
public sealed class AttentionCaptureBackend(IComputeBackend inner, Action<CapturedAttention> observer) : ForwardingComputeBackend(inner)
{
    private int _calls;

    public override void Attention(in AttentionArguments arguments)
    {
        var a = arguments;
        var span = new SparseSpan(a.QueryHeads, a.KeyValueHeads, a.HeadDim, checked((int)a.QueryStart), checked((int)a.Query.Rows));
        var query = DownloadRows(a.Query, span.SpanLength);
        observer(new CapturedAttention(_calls++, span, query, DownloadRows(a.KeyCache, span.KeyLength), DownloadRows(a.ValueCache, span.KeyLength)));
        Inner.Attention(arguments);
    }
}
