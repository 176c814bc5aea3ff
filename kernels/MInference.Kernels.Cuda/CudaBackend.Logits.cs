using System.Runtime.InteropServices;
using MInference.Kernels.Backends;
using MInference.Kernels.Cuda.Interop;

namespace MInference.Kernels.Cuda;

/// <summary>Last-position logits in f32 and their top-k on the GPU (logits.cu): only k ids cross to the host.</summary>
public sealed unsafe partial class CudaBackend
{
    /// <summary>Largest k of <see cref="LastPositionLogits"/> and <see cref="TopK"/>: k passes of one block each.</summary>
    public const int MaxTopK = 64;

    internal const int LogitsTopKThreads = 1024;

    private DeviceBuffer? _logits;

    /// <summary>
    /// Final RMSNorm of the last row of <paramref name="hiddenStates"/> <c>[n, hidden]</c>, the LM head
    /// <c>[vocab, hidden]</c> in f32 (cuBLAS, bf16 inputs), then the top <paramref name="topK"/> logits.
    /// When <paramref name="logits"/> is not empty it receives the whole f32 row (length vocab).
    /// </summary>
    public TopLogits LastPositionLogits(
        IDeviceTensor hiddenStates, IDeviceTensor finalNorm, float epsilon, IDeviceTensor lmHead, int topK, Span<float> logits = default)
    {
        var hidden = Cuda(hiddenStates, nameof(hiddenStates));
        var head = Cuda(lmHead, nameof(lmHead));
        if (hidden.Rows < 1)
        {
            throw new ArgumentException("hidden states are empty: there is no last position", nameof(hiddenStates));
        }

        if (head.Columns != hidden.Columns)
        {
            throw new ArgumentException($"LM head [{head.Rows}, {head.Columns}] does not take hidden states of {hidden.Columns} features", nameof(lmHead));
        }

        var vocab = checked((int)head.Rows);
        CheckTopK(topK, vocab);
        if (!logits.IsEmpty && logits.Length != vocab)
        {
            throw new ArgumentException($"logits destination holds {logits.Length} values, the vocabulary {vocab}", nameof(logits));
        }

        _context.MakeCurrent();
        using var last = hidden.SliceRows(hidden.Rows - 1, 1);
        using var normed = (CudaTensor)Allocate(1, hidden.Columns);
        RmsNorm(last, finalNorm, epsilon, normed);
        var row = LogitsBuffer(vocab);
        PoisonF32(row, vocab);
        _cublas.GemmBf16ToF32RowMajorTransposedWeight(normed.Pointer, head.Pointer, row, 1, vocab, hidden.Columns);
        var result = TopKOnDevice(row, vocab, topK);
        if (!logits.IsEmpty)
        {
            fixed (float* p = logits)
            {
                CudaException.Check(CudaDriver.MemcpyDtoHAsync(p, row, (nuint)(vocab * sizeof(float)), _stream.Value), "cuMemcpyDtoHAsync_v2");
            }

            _stream.Synchronize();
        }

        return result;
    }

    /// <summary>The top <paramref name="topK"/> of host f32 <paramref name="logits"/>, selected on the GPU (same kernel as <see cref="LastPositionLogits"/>).</summary>
    public TopLogits TopK(ReadOnlySpan<float> logits, int topK)
    {
        CheckTopK(topK, logits.Length);
        _context.MakeCurrent();
        var row = LogitsBuffer(logits.Length);
        CopyToDevice(MemoryMarshal.AsBytes(logits), row);
        return TopKOnDevice(row, logits.Length, topK);
    }

    private static void CheckTopK(int topK, int vocab)
    {
        if (vocab < 1)
        {
            throw new ArgumentException("the logits row is empty", nameof(vocab));
        }

        if (topK < 1 || topK > MaxTopK || topK > vocab)
        {
            throw new ArgumentOutOfRangeException(nameof(topK), topK, $"top-k must be in [1, {Math.Min(MaxTopK, vocab)}] (at most {MaxTopK}, at most the vocabulary of {vocab})");
        }
    }

    /// <summary>One device buffer: the f32 row, then k ids, k values and the log-sum-exp.</summary>
    private ulong LogitsBuffer(int vocab)
    {
        var bytes = ((long)vocab + (2L * MaxTopK) + 1) * sizeof(float);
        if (_logits is null || _logits.Bytes < bytes)
        {
            // Work queued earlier may still read the old buffer.
            _stream.Synchronize();
            _logits?.Dispose();
            _logits = _context.Allocate(bytes);
        }

        return _logits.Pointer;
    }

    private void PoisonF32(ulong pointer, long count) =>
        CudaException.Check(CudaDriver.MemsetD16Async(pointer, BFloat16QuietNaN, (nuint)(count * 2), _stream.Value), "cuMemsetD16Async");

    private TopLogits TopKOnDevice(ulong row, int vocab, int topK)
    {
        var ids = row + ((ulong)vocab * sizeof(float));
        var values = ids + (MaxTopK * sizeof(int));
        var logSumExp = values + (MaxTopK * sizeof(float));

        // The kernel must write every pick: NaN bits (0x7FC07FC0) read as an impossible id and a NaN value.
        PoisonF32(ids, (2 * MaxTopK) + 1);
        Kernel("logits_top_k").Launch(_stream, (1, 1), LogitsTopKThreads, 0, row, vocab, topK, ids, values, logSumExp);
        var hostIds = new int[topK];
        var hostValues = new float[topK];
        var hostLse = new float[1];
        fixed (int* pi = hostIds)
        fixed (float* pv = hostValues)
        fixed (float* pl = hostLse)
        {
            CudaException.Check(CudaDriver.MemcpyDtoHAsync(pi, ids, (nuint)(topK * sizeof(int)), _stream.Value), "cuMemcpyDtoHAsync_v2");
            CudaException.Check(CudaDriver.MemcpyDtoHAsync(pv, values, (nuint)(topK * sizeof(float)), _stream.Value), "cuMemcpyDtoHAsync_v2");
            CudaException.Check(CudaDriver.MemcpyDtoHAsync(pl, logSumExp, sizeof(float), _stream.Value), "cuMemcpyDtoHAsync_v2");
            _stream.Synchronize();
        }

        return new TopLogits(hostIds, hostValues, hostLse[0]);
    }
}
