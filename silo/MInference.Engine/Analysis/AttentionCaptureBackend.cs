using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Engine.Analysis;

/// <summary>One attention call's inputs on the host: the span's queries and the cache rows it reads.</summary>
public sealed record CapturedAttention(int CallIndex, SparseSpan Span, float[] Query, float[] Keys, float[] Values);

/// <summary>
/// Wraps a backend and hands every <see cref="IComputeBackend.Attention"/> call's inputs, downloaded
/// to the host, to an observer before running it. The analysis and search tools use it to see each
/// layer's Q/K/V of a dense pass without the model runtime knowing: with one whole-prompt span through
/// one shard, call i is layer i. Every other op passes straight through.
/// </summary>
public sealed class AttentionCaptureBackend(IComputeBackend inner, Action<CapturedAttention> observer) : IComputeBackend
{
    private int _calls;

    public string Name => inner.Name;

    public TensorDType ActivationDType => inner.ActivationDType;

    public IDeviceTensor Allocate(long rows, int columns) => inner.Allocate(rows, columns);

    public IDeviceTensor Upload(ReadOnlySpan<float> values, long rows, int columns) => inner.Upload(values, rows, columns);

    public IDeviceTensor UploadWeight(ReadOnlySpan<byte> raw, TensorDType sourceDType, long rows, int columns)
        => inner.UploadWeight(raw, sourceDType, rows, columns);

    public void Download(IDeviceTensor source, Span<float> destination) => inner.Download(source, destination);

    public void CopyRows(IDeviceTensor source, long sourceRow, IDeviceTensor destination, long destinationRow, long rowCount)
        => inner.CopyRows(source, sourceRow, destination, destinationRow, rowCount);

    public void Embedding(IDeviceTensor table, ReadOnlySpan<int> tokenIds, IDeviceTensor output) => inner.Embedding(table, tokenIds, output);

    public void RmsNorm(IDeviceTensor input, IDeviceTensor weight, float epsilon, IDeviceTensor output) => inner.RmsNorm(input, weight, epsilon, output);

    public void Linear(IDeviceTensor input, IDeviceTensor weight, IDeviceTensor? bias, IDeviceTensor output) => inner.Linear(input, weight, bias, output);

    public void ApplyRope(IDeviceTensor x, int headDim, long firstPosition, RopeFrequencies frequencies)
        => inner.ApplyRope(x, headDim, firstPosition, frequencies);

    public void Attention(in AttentionArguments arguments)
    {
        var a = arguments;
        var span = new SparseSpan(a.QueryHeads, a.KeyValueHeads, a.HeadDim, checked((int)a.QueryStart), checked((int)a.Query.Rows));
        var query = new float[a.Query.Rows * a.Query.Columns];
        inner.Download(a.Query, query);
        observer(new CapturedAttention(_calls++, span, query, Rows(a.KeyCache, span.KeyLength), Rows(a.ValueCache, span.KeyLength)));
        inner.Attention(arguments);
    }

    public void SparseAttention(in AttentionArguments arguments, IReadOnlyList<HeadPattern> headPatterns)
        => inner.SparseAttention(arguments, headPatterns);

    public void SwiGlu(IDeviceTensor gate, IDeviceTensor up, IDeviceTensor output) => inner.SwiGlu(gate, up, output);

    public void AddInPlace(IDeviceTensor target, IDeviceTensor addend) => inner.AddInPlace(target, addend);

    public void Synchronize() => inner.Synchronize();

    /// <summary>The wrapped backend belongs to the caller: it is not disposed here.</summary>
    public void Dispose()
    {
    }

    private float[] Rows(IDeviceTensor cache, int rows)
    {
        using var view = cache.SliceRows(0, rows);
        var values = new float[(long)rows * cache.Columns];
        inner.Download(view, values);
        return values;
    }
}
