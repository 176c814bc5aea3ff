using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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

        // Transpose each KV head's visible keys once, block by block ([d, KeyBlock] per block), rather
        // than once per query head and query block that reads them: every query head of a GQA group
        // and every later query block reuses the same transposed blocks.
        var keyLength = queryStart + n;
        var keyBlocks = checked((int)((keyLength + KeyBlock - 1) / KeyBlock));
        var blockSize = headDim * KeyBlock;
        var transposed = GC.AllocateUninitializedArray<float>(checked(keyValueHeads * keyBlocks * blockSize), pinned: true);
        var kt = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(transposed));
        Parallel.For(0, keyValueHeads * keyBlocks, parallel, index =>
        {
            var kvHead = index / keyBlocks;
            var keyStart = (long)(index % keyBlocks) * KeyBlock;
            var keys = (int)Math.Min(KeyBlock, keyLength - keyStart);
            Transpose((float*)k + (keyStart * kvStride) + (kvHead * headDim), kvStride, keys, headDim, (float*)kt + ((long)index * blockSize));
        });

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
                    (float*)kt + ((long)kvHead * keyBlocks * blockSize),
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

        // The kernels only hold a raw pointer to the transposed keys: without this the pinned array is
        // unreachable after the pointer is taken, and a gen-2 GC during the loop frees it under them.
        GC.KeepAlive(transposed);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunBlock(
        float* q,
        int queryStride,
        float* keysTransposed,
        float* v,
        int kvStride,
        float* o,
        int rows,
        long firstPosition,
        int headDim,
        float scale,
        Scratch scratch)
    {
        fixed (float* qs = scratch.Query, s = scratch.Scores, acc = scratch.Accumulator, rowMax = scratch.RowMax, rowSum = scratch.RowSum)
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
                var kt = keysTransposed + (keyStart * headDim);
                var paired = 0;
                if (Vector512.IsHardwareAccelerated)
                {
                    for (; paired + 2 <= rows; paired += 2)
                    {
                        ScoresPairWide(qs + (paired * headDim), qs + ((paired + 1) * headDim), kt, headDim, s + (paired * KeyBlock), s + ((paired + 1) * KeyBlock));
                    }
                }

                for (var r = paired; r < rows; r++)
                {
                    Scores(qs + (r * headDim), kt, headDim, s + (r * KeyBlock));
                }

                for (var r = 0; r < rows; r++)
                {
                    // Keys past the row's own position are masked by cutting the row short.
                    var visible = (int)Math.Min(keys, firstPosition + r - keyStart + 1);
                    if (visible <= 0)
                    {
                        continue;
                    }

                    var scores = s + (r * KeyBlock);
                    var correction = ExponentiateRow(scores, visible, ref rowMax[r], ref rowSum[r]);
                    AccumulateValues(scores, visible, v + (keyStart * kvStride), kvStride, headDim, correction, acc + (r * headDim));
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

    /// <summary>Scores of two query rows at once with AVX-512: 8 independent FMA chains share each load of kt.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScoresPairWide(float* qa, float* qb, float* kt, int headDim, float* scoresA, float* scoresB)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        for (var d = 0; d < headDim; d++)
        {
            var row = kt + (d * KeyBlock);
            var k0 = Vector512.Load(row);
            var k1 = Vector512.Load(row + 16);
            var k2 = Vector512.Load(row + 32);
            var k3 = Vector512.Load(row + 48);
            var x = Vector512.Create(qa[d]);
            var y = Vector512.Create(qb[d]);
            a0 = Vector512.FusedMultiplyAdd(x, k0, a0);
            a1 = Vector512.FusedMultiplyAdd(x, k1, a1);
            a2 = Vector512.FusedMultiplyAdd(x, k2, a2);
            a3 = Vector512.FusedMultiplyAdd(x, k3, a3);
            b0 = Vector512.FusedMultiplyAdd(y, k0, b0);
            b1 = Vector512.FusedMultiplyAdd(y, k1, b1);
            b2 = Vector512.FusedMultiplyAdd(y, k2, b2);
            b3 = Vector512.FusedMultiplyAdd(y, k3, b3);
        }

        a0.Store(scoresA);
        a1.Store(scoresA + 16);
        a2.Store(scoresA + 32);
        a3.Store(scoresA + 48);
        b0.Store(scoresB);
        b1.Store(scoresB + 16);
        b2.Store(scoresB + 32);
        b3.Store(scoresB + 48);
    }

    /// <summary>
    /// Online-softmax step for one row's block of scores: masks keys past <paramref name="visible"/>,
    /// raises the running max, turns the scores into exp(score - max) in place, adds them to the running
    /// sum, and returns the factor by which earlier accumulations must shrink.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ExponentiateRow(float* scores, int visible, ref float rowMax, ref float rowSum)
    {
        for (var c = visible; c < KeyBlock; c++)
        {
            scores[c] = float.NegativeInfinity;
        }

        var m = Vector256.Max(
            Vector256.Max(Vector256.Max(Vector256.Load(scores), Vector256.Load(scores + 8)), Vector256.Max(Vector256.Load(scores + 16), Vector256.Load(scores + 24))),
            Vector256.Max(Vector256.Max(Vector256.Load(scores + 32), Vector256.Load(scores + 40)), Vector256.Max(Vector256.Load(scores + 48), Vector256.Load(scores + 56))));
        var blockMax = float.NegativeInfinity;
        for (var i = 0; i < 8; i++)
        {
            blockMax = Math.Max(blockMax, m.GetElement(i));
        }

        var newMax = Math.Max(rowMax, blockMax);
        var correction = MathF.Exp(rowMax - newMax);
        rowMax = newMax;
        var shift = Vector256.Create(newMax);
        var sum = Vector256<float>.Zero;
        for (var c = 0; c < KeyBlock; c += 8)
        {
            var p = Vector256.Exp(Vector256.Load(scores + c) - shift);
            p.Store(scores + c);
            sum += p;
        }

        rowSum = (rowSum * correction) + Vector256.Sum(sum);
        return correction;
    }

    /// <summary>
    /// acc[d] = acc[d] · correction + Σ_c p[c] · V[c, d], with 64 output lanes (8 independent FMA chains)
    /// held in registers across the keys; the online-softmax rescale rides on the loads.
    /// </summary>
    private static void AccumulateValues(float* p, int keys, float* v, int kvStride, int headDim, float correction, float* acc)
    {
        var scale = Vector256.Create(correction);
        var d = 0;
        for (; d + 64 <= headDim; d += 64)
        {
            var a0 = Vector256.Load(acc + d) * scale;
            var a1 = Vector256.Load(acc + d + 8) * scale;
            var a2 = Vector256.Load(acc + d + 16) * scale;
            var a3 = Vector256.Load(acc + d + 24) * scale;
            var a4 = Vector256.Load(acc + d + 32) * scale;
            var a5 = Vector256.Load(acc + d + 40) * scale;
            var a6 = Vector256.Load(acc + d + 48) * scale;
            var a7 = Vector256.Load(acc + d + 56) * scale;
            var row = v + d;
            for (var c = 0; c < keys; c++)
            {
                var x = Vector256.Create(p[c]);
                a0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row), a0);
                a1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 24), a3);
                a4 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 32), a4);
                a5 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 40), a5);
                a6 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 48), a6);
                a7 = Vector256.FusedMultiplyAdd(x, Vector256.Load(row + 56), a7);
                row += kvStride;
            }

            a0.Store(acc + d);
            a1.Store(acc + d + 8);
            a2.Store(acc + d + 16);
            a3.Store(acc + d + 24);
            a4.Store(acc + d + 32);
            a5.Store(acc + d + 40);
            a6.Store(acc + d + 48);
            a7.Store(acc + d + 56);
        }

        for (; d + 8 <= headDim; d += 8)
        {
            var a0 = Vector256.Load(acc + d) * scale;
            var row = v + d;
            for (var c = 0; c < keys; c++)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(p[c]), Vector256.Load(row), a0);
                row += kvStride;
            }

            a0.Store(acc + d);
        }

        for (; d < headDim; d++)
        {
            var sum = acc[d] * correction;
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

        public float[] Scores { get; } = new float[QueryBlock * KeyBlock];

        public float[] Accumulator { get; } = new float[QueryBlock * headDim];

        public float[] RowMax { get; } = new float[QueryBlock];

        public float[] RowSum { get; } = new float[QueryBlock];
    }
}
