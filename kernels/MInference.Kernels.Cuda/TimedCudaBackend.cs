using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Cuda;

/// <summary>
/// A <see cref="CudaBackend"/> that brackets every op with CUDA events on its stream and sums the GPU
/// time per <see cref="CudaOpClass"/>, plus the FLOPs and shapes of each GEMM. The engine runs on it
/// unchanged (it is just an <see cref="IComputeBackend"/>). Events cost a few microseconds of host time
/// per op and no GPU time; gaps between ops (launch latency, host work) fall outside every class, so
/// end-to-end minus the sum of the classes is the time the GPU waited for the host. Inside the sparse
/// op it also times the index building and the counting of covered pairs (a <see cref="SparseIndexProbe"/>
/// attached to the wrapped backend, which itself records each head's pairs into a
/// <see cref="HeadPatternCoverage"/> pattern list, so the engine reports measured density).
/// </summary>
public sealed class TimedCudaBackend : IComputeBackend
{
    private readonly List<(CudaEvent Start, CudaEvent End)> _events = [];
    private readonly SparseIndexProbe _probe;
    private readonly List<(CudaOpClass Class, GemmShape? Gemm)> _ops = [];
    private int _used;

    public TimedCudaBackend(CudaBackend inner)
    {
        Inner = inner ?? throw new ArgumentNullException(nameof(inner));
        _probe = new SparseIndexProbe(inner.Context);
        inner.IndexProbe = _probe;
    }

    /// <summary>The wrapped backend (also for its CUDA-only ops).</summary>
    public CudaBackend Inner { get; }

    public string Name => Inner.Name;

    public Shared.Models.TensorDType ActivationDType => Inner.ActivationDType;

    /// <summary>Forgets the ops timed so far (the events are reused).</summary>
    public void Reset()
    {
        _used = 0;
        _ops.Clear();
        _probe.Reset();
    }

    /// <summary>Waits for the GPU and sums the timed ops: milliseconds per class, and each GEMM shape's count and milliseconds.</summary>
    public CudaOpTimes Collect()
    {
        Inner.Synchronize();
        var perClass = new double[Enum.GetValues<CudaOpClass>().Length];
        var gemms = new Dictionary<GemmShape, (int Count, double Milliseconds)>();
        for (var i = 0; i < _used; i++)
        {
            var (start, end) = _events[i];
            var ms = end.ElapsedSince(start);
            var (opClass, gemm) = _ops[i];
            perClass[(int)opClass] += ms;
            if (gemm is { } shape)
            {
                var (count, total) = gemms.GetValueOrDefault(shape);
                gemms[shape] = (count + 1, total + ms);
            }
        }

        // Index building and pair counting ran inside the sparse op's events: take them out of attention.
        var (build, counting) = _probe.Collect();
        return new CudaOpTimes(
            perClass[(int)CudaOpClass.Gemm],
            perClass[(int)CudaOpClass.Attention] - build - counting,
            perClass[(int)CudaOpClass.Other] + counting,
            _used,
            gemms.Select(g => new GemmTiming(g.Key, g.Value.Count, g.Value.Milliseconds)).OrderByDescending(g => g.Milliseconds).ToList())
        {
            IndexMilliseconds = build,
            IndexCountingMilliseconds = counting,
        };
    }

    public IDeviceTensor Allocate(long rows, int columns) => Inner.Allocate(rows, columns);

    public IDeviceTensor Upload(ReadOnlySpan<float> values, long rows, int columns) => Inner.Upload(values, rows, columns);

    public IDeviceTensor UploadWeight(ReadOnlySpan<byte> raw, Shared.Models.TensorDType sourceDType, long rows, int columns)
        => Inner.UploadWeight(raw, sourceDType, rows, columns);

    public void Download(IDeviceTensor source, Span<float> destination)
    {
        var index = Begin(CudaOpClass.Other, null);
        try
        {
            Inner.Download(source, destination);
        }
        finally
        {
            End(index);
        }
    }

    public void CopyRows(IDeviceTensor source, long sourceRow, IDeviceTensor destination, long destinationRow, long rowCount)
    {
        var index = Begin(CudaOpClass.Other, null);
        try
        {
            Inner.CopyRows(source, sourceRow, destination, destinationRow, rowCount);
        }
        finally
        {
            End(index);
        }
    }

    public void Embedding(IDeviceTensor table, ReadOnlySpan<int> tokenIds, IDeviceTensor output)
    {
        var index = Begin(CudaOpClass.Other, null);
        try
        {
            Inner.Embedding(table, tokenIds, output);
        }
        finally
        {
            End(index);
        }
    }

    public void RmsNorm(IDeviceTensor input, IDeviceTensor weight, float epsilon, IDeviceTensor output)
    {
        var index = Begin(CudaOpClass.Other, null);
        try
        {
            Inner.RmsNorm(input, weight, epsilon, output);
        }
        finally
        {
            End(index);
        }
    }

    public void Linear(IDeviceTensor input, IDeviceTensor weight, IDeviceTensor? bias, IDeviceTensor output)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(weight);
        var index = Begin(CudaOpClass.Gemm, new GemmShape(input.Rows, weight.Rows, input.Columns));
        try
        {
            Inner.Linear(input, weight, bias, output);
        }
        finally
        {
            End(index);
        }
    }

    public void ApplyRope(IDeviceTensor x, int headDim, long firstPosition, RopeFrequencies frequencies)
    {
        var index = Begin(CudaOpClass.Other, null);
        try
        {
            Inner.ApplyRope(x, headDim, firstPosition, frequencies);
        }
        finally
        {
            End(index);
        }
    }

    public void Attention(in AttentionArguments arguments)
    {
        var index = Begin(CudaOpClass.Attention, null);
        try
        {
            Inner.Attention(arguments);
        }
        finally
        {
            End(index);
        }
    }

    public void SparseAttention(in AttentionArguments arguments, IReadOnlyList<HeadPattern> headPatterns)
    {
        var index = Begin(CudaOpClass.Attention, null);
        try
        {
            ((IComputeBackend)Inner).SparseAttention(arguments, headPatterns);
        }
        finally
        {
            End(index);
        }
    }

    public void SwiGlu(IDeviceTensor gate, IDeviceTensor up, IDeviceTensor output)
    {
        var index = Begin(CudaOpClass.Other, null);
        try
        {
            Inner.SwiGlu(gate, up, output);
        }
        finally
        {
            End(index);
        }
    }

    public void AddInPlace(IDeviceTensor target, IDeviceTensor addend)
    {
        var index = Begin(CudaOpClass.Other, null);
        try
        {
            Inner.AddInPlace(target, addend);
        }
        finally
        {
            End(index);
        }
    }

    public void Synchronize() => Inner.Synchronize();

    /// <summary>Frees the events and detaches the probe; the wrapped backend stays open (its owner disposes it).</summary>
    public void Dispose()
    {
        if (ReferenceEquals(Inner.IndexProbe, _probe))
        {
            Inner.IndexProbe = null;
        }

        _probe.Dispose();
        foreach (var (start, end) in _events)
        {
            start.Dispose();
            end.Dispose();
        }

        _events.Clear();
    }

    private int Begin(CudaOpClass opClass, GemmShape? gemm)
    {
        if (_used == _events.Count)
        {
            _events.Add((new CudaEvent(Inner.Context), new CudaEvent(Inner.Context)));
        }

        var index = _used++;
        _ops.Add((opClass, gemm));
        _events[index].Start.Record(Inner.Stream);
        return index;
    }

    /// <summary>Called in a finally: a recorded start always gets its end, so <see cref="Collect"/> can read every pair.</summary>
    private void End(int index) => _events[index].End.Record(Inner.Stream);
}

/// <summary>A GEMM <c>[M, K] · [N, K]ᵀ</c> as the engine's Linear runs it: M tokens, N outputs, K depth.</summary>
public readonly record struct GemmShape(long M, long N, long K)
{
    public double Flops => 2.0 * M * N * K;

    public override string ToString() => $"{M}x{N}x{K}";
}

/// <summary>How often one GEMM shape ran and its GPU milliseconds in all.</summary>
public sealed record GemmTiming(GemmShape Shape, int Count, double Milliseconds);

/// <summary>
/// GPU milliseconds per op class of the ops timed since the last <see cref="TimedCudaBackend.Reset"/>.
/// Sparse index building is not in <see cref="AttentionMilliseconds"/> but in <see cref="IndexMilliseconds"/>;
/// counting the built indices' pairs (a measurement) is in <see cref="OtherMilliseconds"/>.
/// </summary>
public sealed record CudaOpTimes(double GemmMilliseconds, double AttentionMilliseconds, double OtherMilliseconds, int Ops, IReadOnlyList<GemmTiming> Gemms)
{
    /// <summary>GPU milliseconds of sparse index building (estimation, replacement, conversion).</summary>
    public double IndexMilliseconds { get; init; }

    /// <summary>GPU milliseconds spent counting the built indices' pairs (part of <see cref="OtherMilliseconds"/>).</summary>
    public double IndexCountingMilliseconds { get; init; }

    public double TotalMilliseconds => GemmMilliseconds + AttentionMilliseconds + IndexMilliseconds + OtherMilliseconds;
}
