using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Engine.Evaluation;

/// <summary>
/// Wraps a backend and counts, over the pre-fill attention calls (spans of more than one query), the
/// (query, key) pairs the kernels compute against the causal pairs: dense calls count every causal pair;
/// sparse calls re-estimate each head's plan on the host (<see cref="SparseHeadPlan"/>, the same estimate
/// the kernel makes from the same Q/K) and count its covered pairs. Decode steps are not counted. The
/// re-estimate costs one more index estimate per head: an evaluation tool, not a serving path.
/// </summary>
public sealed class DensityMeasuringBackend(IComputeBackend inner) : IComputeBackend
{
    private long _covered;
    private long _causal;

    public string Name => inner.Name;

    public TensorDType ActivationDType => inner.ActivationDType;

    /// <summary>Covered over causal pairs since the last <see cref="Reset"/>; 1 when nothing was counted.</summary>
    public double Density => _causal == 0 ? 1 : (double)_covered / _causal;

    public void Reset()
    {
        _covered = 0;
        _causal = 0;
    }

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
        if (arguments.Query.Rows > 1)
        {
            var causal = SparseCoverage.CausalPairsOf(checked((int)arguments.QueryStart), checked((int)arguments.Query.Rows)) * arguments.QueryHeads;
            _covered += causal;
            _causal += causal;
        }

        inner.Attention(arguments);
    }

    public void SparseAttention(in AttentionArguments arguments, IReadOnlyList<HeadPattern> headPatterns)
    {
        ArgumentNullException.ThrowIfNull(headPatterns);
        var a = arguments;
        var span = new SparseSpan(a.QueryHeads, a.KeyValueHeads, a.HeadDim, checked((int)a.QueryStart), checked((int)a.Query.Rows));
        var query = new float[a.Query.Rows * a.Query.Columns];
        inner.Download(a.Query, query);
        using (var keyRows = a.KeyCache.SliceRows(0, span.KeyLength))
        {
            var keys = new float[(long)span.KeyLength * a.KeyCache.Columns];
            inner.Download(keyRows, keys);
            var covered = new long[a.QueryHeads];
            Parallel.For(0, a.QueryHeads, head => covered[head] = SparseHeadPlan.Estimate(headPatterns[head], query, keys, span, head).CoveredPairs());
            _covered += covered.Sum();
        }

        _causal += SparseCoverage.CausalPairsOf(span.SpanStart, span.SpanLength) * a.QueryHeads;
        inner.SparseAttention(arguments, headPatterns);
    }

    public void SwiGlu(IDeviceTensor gate, IDeviceTensor up, IDeviceTensor output) => inner.SwiGlu(gate, up, output);

    public void AddInPlace(IDeviceTensor target, IDeviceTensor addend) => inner.AddInPlace(target, addend);

    public void Synchronize() => inner.Synchronize();

    /// <summary>The wrapped backend belongs to the caller: it is not disposed here.</summary>
    public void Dispose()
    {
    }
}
