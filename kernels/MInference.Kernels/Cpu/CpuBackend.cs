using System.Numerics.Tensors;
using MInference.Kernels.Backends;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Cpu;

/// <summary>
/// The f32 reference backend: the oracle for the CUDA backend and the engine on machines without a
/// GPU. Ops check shapes once, then run vectorised loops over rows split across
/// <see cref="CpuBackendOptions.MaxDegreeOfParallelism"/> workers. Ops run synchronously, so
/// <see cref="Synchronize"/> has nothing to wait for.
/// </summary>
public sealed class CpuBackend : IComputeBackend
{
    /// <summary>Rows below this run on the calling thread: forking costs more than it saves.</summary>
    internal const long ParallelRowThreshold = 64;

    private readonly int _degree;
    private readonly ParallelOptions _parallel;

    public CpuBackend()
        : this(new CpuBackendOptions())
    {
    }

    public CpuBackend(CpuBackendOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _degree = options.MaxDegreeOfParallelism;
        _parallel = new ParallelOptions { MaxDegreeOfParallelism = _degree };
    }

    public string Name => $"cpu ({_degree} threads)";

    public TensorDType ActivationDType => TensorDType.Float32;

    public int MaxDegreeOfParallelism => _degree;

    public IDeviceTensor Allocate(long rows, int columns) => CpuTensor.Allocate(rows, columns, isWeight: false);

    public IDeviceTensor Upload(ReadOnlySpan<float> values, long rows, int columns)
    {
        CheckLength(values.Length, rows, columns, nameof(values));
        var tensor = CpuTensor.Allocate(rows, columns, isWeight: false);
        values.CopyTo(tensor.AsSpan());
        return tensor;
    }

    public IDeviceTensor UploadWeight(ReadOnlySpan<byte> raw, TensorDType sourceDType, long rows, int columns)
    {
        var tensor = CpuTensor.Allocate(rows, columns, isWeight: true);
        WeightConversion.ToFloat32(raw, sourceDType, tensor.AsSpan());
        return tensor;
    }

    public void Download(IDeviceTensor source, Span<float> destination)
    {
        var tensor = Cpu(source, nameof(source));
        CheckLength(destination.Length, tensor.Rows, tensor.Columns, nameof(destination));
        tensor.AsSpan().CopyTo(destination);
    }

    public void CopyRows(IDeviceTensor source, long sourceRow, IDeviceTensor destination, long destinationRow, long rowCount)
    {
        var from = Cpu(source, nameof(source));
        var to = Cpu(destination, nameof(destination));
        if (from.Columns != to.Columns)
        {
            throw new ArgumentException($"source has {from.Columns} columns but destination has {to.Columns}", nameof(destination));
        }

        if (rowCount == 0)
        {
            return;
        }

        // Slice checks both row ranges against their tensors; Span.CopyTo handles overlap.
        from.Slice(sourceRow, rowCount).AsSpan().CopyTo(to.Slice(destinationRow, rowCount).AsSpan());
    }

    public void Embedding(IDeviceTensor table, ReadOnlySpan<int> tokenIds, IDeviceTensor output)
    {
        var weights = Cpu(table, nameof(table));
        var result = Cpu(output, nameof(output));
        if (result.Rows != tokenIds.Length || result.Columns != weights.Columns)
        {
            throw new ArgumentException(
                $"output is [{result.Rows}, {result.Columns}] but {tokenIds.Length} tokens of width {weights.Columns} need [{tokenIds.Length}, {weights.Columns}]",
                nameof(output));
        }

        for (var t = 0; t < tokenIds.Length; t++)
        {
            var id = tokenIds[t];
            if ((uint)id >= (ulong)weights.Rows)
            {
                throw new ArgumentOutOfRangeException(nameof(tokenIds), id, $"token id {id} at index {t} is outside the vocabulary of {weights.Rows} tokens");
            }

            weights.Row(id).CopyTo(result.Row(t));
        }
    }

    public void RmsNorm(IDeviceTensor input, IDeviceTensor weight, float epsilon, IDeviceTensor output)
    {
        var x = Cpu(input, nameof(input));
        var w = Cpu(weight, nameof(weight));
        var y = Cpu(output, nameof(output));
        if (w.Rows != 1 || w.Columns != x.Columns)
        {
            throw new ArgumentException($"RMSNorm weight is [{w.Rows}, {w.Columns}] but the input needs [1, {x.Columns}]", nameof(weight));
        }

        SameShape(x, y, nameof(output));
        ForRows(x.Rows, row =>
        {
            var source = x.Row(row);
            var target = y.Row(row);
            var meanSquare = TensorPrimitives.SumOfSquares(source) / source.Length;
            var inverse = 1f / MathF.Sqrt(meanSquare + epsilon);
            TensorPrimitives.Multiply(source, inverse, target);
            TensorPrimitives.Multiply(target, w.Row(0), target);
        });
    }

    public void Linear(IDeviceTensor input, IDeviceTensor weight, IDeviceTensor? bias, IDeviceTensor output)
    {
        var x = Cpu(input, nameof(input));
        var w = Cpu(weight, nameof(weight));
        var y = Cpu(output, nameof(output));
        var b = bias is null ? null : Cpu(bias, nameof(bias));
        if (w.Columns != x.Columns)
        {
            throw new ArgumentException($"weight [{w.Rows}, {w.Columns}] needs inputs of {w.Columns} features but the input has {x.Columns}", nameof(weight));
        }

        if (y.Rows != x.Rows || y.Columns != w.Rows)
        {
            throw new ArgumentException($"output is [{y.Rows}, {y.Columns}] but must be [{x.Rows}, {w.Rows}]", nameof(output));
        }

        if (b is not null && (b.Rows != 1 || b.Columns != w.Rows))
        {
            throw new ArgumentException($"bias is [{b.Rows}, {b.Columns}] but must be [1, {w.Rows}]", nameof(bias));
        }

        CpuGemm.Multiply(x, w, b, y, _degree);
    }

    public void ApplyRope(IDeviceTensor x, int headDim, long firstPosition, RopeFrequencies frequencies)
    {
        ArgumentNullException.ThrowIfNull(frequencies);
        var tensor = Cpu(x, nameof(x));
        if (headDim <= 0 || headDim % 2 != 0 || tensor.Columns % headDim != 0)
        {
            throw new ArgumentException($"head_dim {headDim} must be positive, even and divide the {tensor.Columns} columns", nameof(headDim));
        }

        if (frequencies.InverseFrequencies.Count != headDim / 2)
        {
            throw new ArgumentException($"{frequencies.InverseFrequencies.Count} RoPE frequencies given for head_dim {headDim}, which needs {headDim / 2}", nameof(frequencies));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(firstPosition);
        CpuRope.Apply(tensor, headDim, firstPosition, frequencies, _degree);
    }

    public void Attention(in AttentionArguments arguments)
    {
        var a = arguments;
        var q = Cpu(a.Query, "Query");
        var k = Cpu(a.KeyCache, "KeyCache");
        var v = Cpu(a.ValueCache, "ValueCache");
        var o = Cpu(a.Output, "Output");
        if (a.HeadDim <= 0 || a.QueryHeads <= 0 || a.KeyValueHeads <= 0 || a.QueryHeads % a.KeyValueHeads != 0)
        {
            throw new ArgumentException($"{a.QueryHeads} query heads must be a positive multiple of {a.KeyValueHeads} KV heads, head_dim {a.HeadDim} positive", nameof(arguments));
        }

        if (q.Columns != a.QueryHeads * a.HeadDim)
        {
            throw new ArgumentException($"query has {q.Columns} columns but {a.QueryHeads} heads x {a.HeadDim} need {a.QueryHeads * a.HeadDim}", nameof(arguments));
        }

        SameShape(q, o, "Output");
        if (k.Columns != a.KeyValueHeads * a.HeadDim || v.Columns != k.Columns)
        {
            throw new ArgumentException($"KV caches have {k.Columns} and {v.Columns} columns but {a.KeyValueHeads} heads x {a.HeadDim} need {a.KeyValueHeads * a.HeadDim}", nameof(arguments));
        }

        if (a.QueryStart < 0 || a.KeyLength > k.Rows || a.KeyLength > v.Rows)
        {
            throw new ArgumentException($"queries at [{a.QueryStart}, {a.KeyLength}) need {a.KeyLength} cache rows but the caches hold {Math.Min(k.Rows, v.Rows)}", nameof(arguments));
        }

        CpuAttention.Run(q, k, v, o, a.QueryStart, a.QueryHeads, a.KeyValueHeads, a.HeadDim, a.Scale, _degree);
    }

    /// <summary>Per-head patterns through the reference sparse kernels, heads in parallel (see <see cref="CpuSparseAttention"/>).</summary>
    public void SparseAttention(in AttentionArguments arguments, IReadOnlyList<HeadPattern> headPatterns)
        => CpuSparseAttention.Run(
            arguments, Cpu(arguments.Query, "Query"), Cpu(arguments.KeyCache, "KeyCache"), Cpu(arguments.ValueCache, "ValueCache"), Cpu(arguments.Output, "Output"), headPatterns, _parallel);

    public void SwiGlu(IDeviceTensor gate, IDeviceTensor up, IDeviceTensor output)
    {
        var g = Cpu(gate, nameof(gate));
        var u = Cpu(up, nameof(up));
        var y = Cpu(output, nameof(output));
        SameShape(g, u, nameof(up));
        SameShape(g, y, nameof(output));
        ForRows(g.Rows, row =>
        {
            var gateRow = g.Row(row);
            var upRow = u.Row(row);
            var target = y.Row(row);

            // silu(g) * u = g * u / (1 + e^-g); the product first so output may alias gate or up.
            Span<float> sigmoid = stackalloc float[256];
            for (var start = 0; start < gateRow.Length; start += sigmoid.Length)
            {
                var length = Math.Min(sigmoid.Length, gateRow.Length - start);
                var chunk = sigmoid[..length];
                TensorPrimitives.Sigmoid(gateRow.Slice(start, length), chunk);
                TensorPrimitives.Multiply(chunk, gateRow.Slice(start, length), chunk);
                TensorPrimitives.Multiply(chunk, upRow.Slice(start, length), target.Slice(start, length));
            }
        });
    }

    public void AddInPlace(IDeviceTensor target, IDeviceTensor addend)
    {
        var t = Cpu(target, nameof(target));
        var a = Cpu(addend, nameof(addend));
        SameShape(t, a, nameof(addend));
        ForRows(t.Rows, row => TensorPrimitives.Add(t.Row(row), a.Row(row), t.Row(row)));
    }

    public void Synchronize()
    {
    }

    public void Dispose()
    {
    }

    private void ForRows(long rows, Action<long> body)
    {
        if (rows < ParallelRowThreshold || _degree == 1)
        {
            for (long row = 0; row < rows; row++)
            {
                body(row);
            }

            return;
        }

        Parallel.For(0, rows, _parallel, body);
    }

    private static CpuTensor Cpu(IDeviceTensor tensor, string name)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        return tensor as CpuTensor
            ?? throw new ArgumentException($"{name} is a {tensor.GetType().Name}; the CPU backend only takes its own CpuTensor", name);
    }

    private static void SameShape(CpuTensor expected, CpuTensor actual, string name)
    {
        if (expected.Rows != actual.Rows || expected.Columns != actual.Columns)
        {
            throw new ArgumentException($"{name} is [{actual.Rows}, {actual.Columns}] but must be [{expected.Rows}, {expected.Columns}]", name);
        }
    }

    private static void CheckLength(int length, long rows, int columns, string name)
    {
        if (length != rows * columns)
        {
            throw new ArgumentException($"{name} holds {length} values but [{rows}, {columns}] needs {rows * columns}", name);
        }
    }
}
