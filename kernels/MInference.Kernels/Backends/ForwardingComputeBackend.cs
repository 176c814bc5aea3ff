using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Backends;

/// <summary>
/// A backend that passes every op to <see cref="Inner"/>: the base of decorators that observe or count
/// some ops (attention capture, density measurement) and must forward the rest unchanged. Every op is
/// virtual, so a decorator overrides only what it watches.
/// </summary>
public abstract class ForwardingComputeBackend(IComputeBackend inner) : IComputeBackend
{
    /// <summary>The wrapped backend; it belongs to the caller and is not disposed here.</summary>
    protected IComputeBackend Inner { get; } = inner;

    public virtual string Name => Inner.Name;

    public virtual TensorDType ActivationDType => Inner.ActivationDType;

    public virtual IDeviceTensor Allocate(long rows, int columns) => Inner.Allocate(rows, columns);

    public virtual IDeviceTensor Upload(ReadOnlySpan<float> values, long rows, int columns) => Inner.Upload(values, rows, columns);

    public virtual IDeviceTensor UploadWeight(ReadOnlySpan<byte> raw, TensorDType sourceDType, long rows, int columns)
        => Inner.UploadWeight(raw, sourceDType, rows, columns);

    public virtual void Download(IDeviceTensor source, Span<float> destination) => Inner.Download(source, destination);

    public virtual void CopyRows(IDeviceTensor source, long sourceRow, IDeviceTensor destination, long destinationRow, long rowCount)
        => Inner.CopyRows(source, sourceRow, destination, destinationRow, rowCount);

    public virtual void Embedding(IDeviceTensor table, ReadOnlySpan<int> tokenIds, IDeviceTensor output) => Inner.Embedding(table, tokenIds, output);

    public virtual void RmsNorm(IDeviceTensor input, IDeviceTensor weight, float epsilon, IDeviceTensor output) => Inner.RmsNorm(input, weight, epsilon, output);

    public virtual void Linear(IDeviceTensor input, IDeviceTensor weight, IDeviceTensor? bias, IDeviceTensor output) => Inner.Linear(input, weight, bias, output);

    public virtual void ApplyRope(IDeviceTensor x, int headDim, long firstPosition, RopeFrequencies frequencies)
        => Inner.ApplyRope(x, headDim, firstPosition, frequencies);

    public virtual void Attention(in AttentionArguments arguments) => Inner.Attention(arguments);

    public virtual void SparseAttention(in AttentionArguments arguments, IReadOnlyList<HeadPattern> headPatterns)
        => Inner.SparseAttention(arguments, headPatterns);

    public virtual void SwiGlu(IDeviceTensor gate, IDeviceTensor up, IDeviceTensor output) => Inner.SwiGlu(gate, up, output);

    public virtual void AddInPlace(IDeviceTensor target, IDeviceTensor addend) => Inner.AddInPlace(target, addend);

    public virtual void Synchronize() => Inner.Synchronize();

    /// <summary>The wrapped backend belongs to the caller: it is not disposed here.</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what a decorator itself holds; the base holds nothing.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>The first <paramref name="rows"/> rows of <paramref name="tensor"/>, downloaded to the host.</summary>
    protected float[] DownloadRows(IDeviceTensor tensor, int rows)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var values = new float[(long)rows * tensor.Columns];
        if (rows == tensor.Rows)
        {
            Inner.Download(tensor, values);
            return values;
        }

        using var view = tensor.SliceRows(0, rows);
        Inner.Download(view, values);
        return values;
    }
}
