using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MInference.Kernels.Cpu;

/// <summary>
/// Causal GQA attention in f32 with an online softmax over key blocks. A work item is one query
/// head and one block of <see cref="QueryBlock"/> query rows; it streams the visible keys of its
/// KV head in blocks of <see cref="KeyBlock"/>, so K and V are never expanded to the query heads.
/// </summary>
internal static unsafe class CpuAttention
{
    /// <summary>Query rows per work item.</summary>
    internal const int QueryBlock = 64;

    /// <summary>Keys per block: 64 scores of a row are 8 Vector256 accumulators.</summary>
    internal const int KeyBlock = 64;

    internal static void Run(
        CpuTensor query,
        CpuTensor keyCache,
        CpuTensor valueCache,
        CpuTensor output,
        long queryStart,
        int queryHeads,
        int keyValueHeads,
        int headDim,
        float scale,
        int maxDegreeOfParallelism)
    {
        var n = checked((int)query.Rows);
        var queryBlocks = (n + QueryBlock - 1) / QueryBlock;
        var items = queryHeads * queryBlocks;
        var group = queryHeads / keyValueHeads;
        var q = (nint)query.Pointer;
        var k = (nint)keyCache.Pointer;
        var v = (nint)valueCache.Pointer;
        var o = (nint)output.Pointer;
        var queryStride = query.Columns;
        var kvStride = keyCache.Columns;

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };
        Parallel.For(
            0,
            items,
            parallel,
            () => new Scratch(headDim),
            (item, _, scratch) =>
            {
                // Late query blocks see the most keys: hand them out first so the tail of the loop is short.
                var block = queryBlocks - 1 - (item / queryHeads);
                var head = item % queryHeads;
                var rowStart = block * QueryBlock;
                var rows = Math.Min(QueryBlock, n - rowStart);
                var kvHead = head / group;
                RunBlock(
                    (float*)q + ((long)rowStart * queryStride) + (head * headDim),
                    queryStride,
                    (float*)k + (kvHead * headDim),
                    (float*)v + (kvHead * headDim),
                    kvStride,
                    (float*)o + ((long)rowStart * queryStride) + (head * headDim),
                    rows,
                    queryStart + rowStart,
                    headDim,
                    scale,
                    scratch);
                return scratch;
            },
            _ => { });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunBlock(
        float* q,
        int queryStride,
        float* k,
        float* v,
        int kvStride,
        float* o,
        int rows,
        long firstPosition,
        int headDim,
        float scale,
        Scratch scratch)
    {
        fixed (float* qs = scratch.Query, kt = scratch.KeysTransposed, s = scratch.Scores, acc = scratch.Accumulator, rowMax = scratch.RowMax, rowSum = scratch.RowSum)
        {
            for (var r = 0; r < rows; r++)
            {
                var source = new ReadOnlySpan<float>(q + ((long)r * queryStride), headDim);
                TensorPrimitives.Multiply(source, scale, new Span<float>(qs + (r * headDim), headDim));
                rowMax[r] = float.NegativeInfinity;
                rowSum[r] = 0f;
            }

            new Span<float>(acc, rows * headDim).Clear();
            var lastKey = firstPosition + rows - 1;
            for (long keyStart = 0; keyStart <= lastKey; keyStart += KeyBlock)
            {
                var keys = (int)Math.Min(KeyBlock, lastKey + 1 - keyStart);
                Transpose(k + (keyStart * kvStride), kvStride, keys, headDim, kt);
                for (var r = 0; r < rows; r++)
                {
                    // Keys past the row's own position are masked by cutting the row short.
                    var visible = (int)Math.Min(keys, firstPosition + r - keyStart + 1);
                    if (visible <= 0)
                    {
                        continue;
                    }

                    var scores = s + (r * KeyBlock);
                    Scores(qs + (r * headDim), kt, headDim, scores);
                    var scoreSpan = new Span<float>(scores, visible);
                    var blockMax = TensorPrimitives.Max(scoreSpan);
                    var newMax = Math.Max(rowMax[r], blockMax);
                    var correction = MathF.Exp(rowMax[r] - newMax);
                    rowMax[r] = newMax;
                    TensorPrimitives.Subtract(scoreSpan, newMax, scoreSpan);
                    TensorPrimitives.Exp(scoreSpan, scoreSpan);
                    rowSum[r] = (rowSum[r] * correction) + TensorPrimitives.Sum(scoreSpan);
                    var accRow = acc + (r * headDim);
                    if (correction != 1f)
                    {
                        var accSpan = new Span<float>(accRow, headDim);
                        TensorPrimitives.Multiply(accSpan, correction, accSpan);
                    }

                    AccumulateValues(scores, visible, v + (keyStart * kvStride), kvStride, headDim, accRow);
                }
            }

            for (var r = 0; r < rows; r++)
            {
                var target = new Span<float>(o + ((long)r * queryStride), headDim);
                TensorPrimitives.Divide(new ReadOnlySpan<float>(acc + (r * headDim), headDim), rowSum[r], target);
            }
        }
    }

    /// <summary>kt[d, KeyBlock] = K[keys, d]ᵀ; columns past <paramref name="keys"/> are zeroed so full-width loads stay finite.</summary>
    private static void Transpose(float* k, int kvStride, int keys, int headDim, float* kt)
    {
        for (var c = 0; c < keys; c++)
        {
            var row = k + ((long)c * kvStride);
            for (var d = 0; d < headDim; d++)
            {
                kt[(d * KeyBlock) + c] = row[d];
            }
        }

        for (var c = keys; c < KeyBlock; c++)
        {
            for (var d = 0; d < headDim; d++)
            {
                kt[(d * KeyBlock) + c] = 0f;
            }
        }
    }

    /// <summary>scores[0, KeyBlock) = q · ktᵀ, vectorised along the keys so no horizontal sums are needed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scores(float* q, float* kt, int headDim, float* scores)
    {
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (var d = 0; d < headDim; d++)
        {
            var x = Vector256.Create(q[d]);
            var row = kt + (d * KeyBlock);
            s0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row), s0);
            s1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 8), s1);
            s2 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 16), s2);
            s3 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 24), s3);
            s4 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 32), s4);
            s5 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 40), s5);
            s6 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 48), s6);
            s7 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 56), s7);
        }

        s0.Store(scores);
        s1.Store(scores + 8);
        s2.Store(scores + 16);
        s3.Store(scores + 24);
        s4.Store(scores + 32);
        s5.Store(scores + 40);
        s6.Store(scores + 48);
        s7.Store(scores + 56);
    }

    /// <summary>acc[d] += Σ_c p[c] · V[c, d], with 32 output lanes held in registers across the keys.</summary>
    private static void AccumulateValues(float* p, int keys, float* v, int kvStride, int headDim, float* acc)
    {
        var d = 0;
        for (; d + 32 <= headDim; d += 32)
        {
            var a0 = Vector256.Load(acc + d);
            var a1 = Vector256.Load(acc + d + 8);
            var a2 = Vector256.Load(acc + d + 16);
            var a3 = Vector256.Load(acc + d + 24);
            var row = v + d;
            for (var c = 0; c < keys; c++)
            {
                var x = Vector256.Create(p[c]);
                a0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row), a0);
                a1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 24), a3);
                row += kvStride;
            }

            a0.Store(acc + d);
            a1.Store(acc + d + 8);
            a2.Store(acc + d + 16);
            a3.Store(acc + d + 24);
        }

        for (; d < headDim; d++)
        {
            var sum = acc[d];
            for (var c = 0; c < keys; c++)
            {
                sum += p[c] * v[((long)c * kvStride) + d];
            }

            acc[d] = sum;
        }
    }

    /// <summary>Per-worker buffers, made once per Parallel.For worker rather than per work item.</summary>
    private sealed class Scratch(int headDim)
    {
        public float[] Query { get; } = new float[QueryBlock * headDim];

        public float[] KeysTransposed { get; } = new float[headDim * KeyBlock];

        public float[] Scores { get; } = new float[QueryBlock * KeyBlock];

        public float[] Accumulator { get; } = new float[QueryBlock * headDim];

        public float[] RowMax { get; } = new float[QueryBlock];

        public float[] RowSum { get; } = new float[QueryBlock];
    }
}
