using System.Runtime.InteropServices;
using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Cuda;

/// <summary>The sparse attention ops (sparse_attention_mma.cu): Vertical-Slash, Block-Sparse, A-shape.</summary>
public sealed unsafe partial class CudaBackend
{
    internal const int SparseQueryBlock = 64;
    internal const int SparseKeyTile = 64;
    internal const int SparseStages = 2;
    internal const int SparseThreads = 128;

    // A-shape blocks: 8 warps x two 16-row tiles (sparse_attention_mma.cu's AShape* constants).
    internal const int AShapeQueryBlock = 256;
    internal const int AShapeThreads = 256;

    /// <summary>
    /// Pre-fill attention with one pattern per query head, all on the GPU (IComputeBackend contract):
    /// Vertical-Slash heads are estimated (last-64-query scores, top-k) and converted on the GPU, then run
    /// in one launch; Block-Sparse heads likewise; A-shape heads in one launch with their own sink and
    /// window. A head whose pattern would select every causal key (<see cref="SparseHeadPlan.SelectsEverything"/>)
    /// runs dense: the dense kernel when every head does, else the A-shape kernel with a window over the
    /// whole cache (exactly dense attention) in the A-shape launch. When <paramref name="headPatterns"/> is a
    /// <see cref="HeadPatternCoverage"/>, each head records what it ran and the (query, key) pairs its kernel
    /// computed, as the CPU backend does: counted on the GPU from the built index for VS and Block-Sparse
    /// (one small download and stream synchronisation per call), exact by formula for A-shape and dense.
    /// </summary>
    public void SparseAttention(in AttentionArguments arguments, IReadOnlyList<HeadPattern> headPatterns)
    {
        ArgumentNullException.ThrowIfNull(headPatterns);
        var (q, _, _, o) = CheckSparse(arguments);
        if (headPatterns.Count != arguments.QueryHeads)
        {
            throw new ArgumentException($"{headPatterns.Count} head patterns given for {arguments.QueryHeads} query heads", nameof(headPatterns));
        }

        var keyLength = (int)arguments.KeyLength;
        var kinds = headPatterns.Select(p => SparseHeadPlan.SelectsEverything(p, keyLength) ? SparsePatternKind.Dense : p.Kind).ToArray();
        var coverage = headPatterns as HeadPatternCoverage;
        var spanStart = (int)arguments.QueryStart;
        var spanLength = (int)q.Rows;
        if (kinds.All(k => k == SparsePatternKind.Dense))
        {
            Attention(arguments);
            RecordFormulaCoverage(coverage, kinds, headPatterns, spanStart, spanLength);
            return;
        }

        int[] HeadsOf(SparsePatternKind kind) => [.. Enumerable.Range(0, kinds.Length).Where(h => kinds[h] == kind)];
        var patterns = headPatterns;
        var verticalSlash = HeadsOf(SparsePatternKind.VerticalSlash);
        if (verticalSlash.Length > 0)
        {
            var index = VerticalSlashIndexForHeads(arguments, verticalSlash, [.. verticalSlash.Select(h => (patterns[h].Verticals, patterns[h].Slashes))]);
            SparseAttention(arguments, index);
            RecordIndexCoverage(coverage, index);
        }

        var blockSparse = HeadsOf(SparsePatternKind.BlockSparse);
        if (blockSparse.Length > 0)
        {
            var index = BlockSparseIndexForHeads(arguments, blockSparse, [.. blockSparse.Select(h => patterns[h].TopBlocks)]);
            SparseAttention(arguments, index);
            RecordIndexCoverage(coverage, index);
        }

        // A-shape and dense heads share one launch; dense = sink of 1 plus a window over every key.
        var windowed = Enumerable.Range(0, kinds.Length).Where(h => kinds[h] is SparsePatternKind.AShape or SparsePatternKind.Dense).ToArray();
        if (windowed.Length > 0)
        {
            var init = windowed.Select(h => kinds[h] == SparsePatternKind.Dense ? 1 : patterns[h].InitKeys).ToArray();
            var local = windowed.Select(h => kinds[h] == SparsePatternKind.Dense ? keyLength : patterns[h].LocalKeys).ToArray();
            if (init.Any(i => i < 1) || local.Any(l => l < 1))
            {
                throw new ArgumentException("A-shape heads need a sink and a window of at least 1 key", nameof(headPatterns));
            }

            var (_, k, v, _) = CheckSparse(arguments);
            Span<KernelArgument> args = stackalloc KernelArgument[12];
            var n = SparseCommonArguments(args, arguments, q, k, v, o);
            args[n++] = UploadInts("as.heads", windowed);
            args[n++] = UploadInts("as.init", init);
            args[n++] = UploadInts("as.local", local);
            Launch(SparseKernel("ashape_heads", arguments.HeadDim), windowed.Length, q, args[..n]);
            RecordFormulaCoverage(coverage, kinds, headPatterns, spanStart, spanLength);
        }
    }

    /// <summary>Records each slot's pairs as counted on the GPU from its index (synchronises the stream).</summary>
    private void RecordIndexCoverage(HeadPatternCoverage? coverage, CudaSparseIndex index)
    {
        if (coverage is null)
        {
            return;
        }

        var kind = index.Pattern == CudaSparsePattern.VerticalSlash ? SparsePatternKind.VerticalSlash : SparsePatternKind.BlockSparse;
        var probe = IndexProbe;
        var countSlot = probe?.Begin(_stream, counting: true);
        var pairs = CoveredPairs(index);
        if (countSlot is { } counted)
        {
            probe!.End(_stream, counted);
        }

        for (var slot = 0; slot < pairs.Length; slot++)
        {
            coverage.Record(index.HeadOfSlot[slot], kind, pairs[slot]);
        }
    }

    /// <summary>
    /// Records the A-shape and dense heads, whose pairs follow from the span: A-shape rows see
    /// min(p + 1, sink + window) keys (the kernel masks exactly), dense rows p + 1 (as SparseHeadPlan.CoveredPairs).
    /// </summary>
    private static void RecordFormulaCoverage(HeadPatternCoverage? coverage, SparsePatternKind[] kinds, IReadOnlyList<HeadPattern> patterns, int spanStart, int spanLength)
    {
        if (coverage is null)
        {
            return;
        }

        for (var head = 0; head < kinds.Length; head++)
        {
            if (kinds[head] == SparsePatternKind.Dense)
            {
                coverage.Record(head, SparsePatternKind.Dense, SparseCoverage.CausalPairsOf(spanStart, spanLength));
            }
            else if (kinds[head] == SparsePatternKind.AShape)
            {
                var cap = (long)patterns[head].InitKeys + patterns[head].LocalKeys;
                coverage.Record(head, SparsePatternKind.AShape, SpanAttentionCost.CappedPairs(spanStart, spanLength, cap));
            }
        }
    }

    /// <summary>
    /// Sparse causal attention of the span in <paramref name="arguments"/> over the keys
    /// <paramref name="index"/> selects, all query heads in one launch; the index must have been built for
    /// this span (start and length) and hold one entry per query head.
    /// </summary>
    public void SparseAttention(in AttentionArguments arguments, CudaSparseIndex index)
    {
        ArgumentNullException.ThrowIfNull(index);
        var (q, k, v, o) = CheckSparse(arguments);
        var full = index.HeadsPointer == 0;
        var queryHeads = arguments.QueryHeads;
        if (index.SpanStart != arguments.QueryStart || index.SpanLength != q.Rows || (full && index.Heads != arguments.QueryHeads)
            || index.HeadOfSlot.Any(h => (uint)h >= (uint)queryHeads))
        {
            throw new ArgumentException(
                $"index covers span [{index.SpanStart}, +{index.SpanLength}) of {index.Heads} heads; the call is span [{arguments.QueryStart}, +{q.Rows}) of {arguments.QueryHeads} heads",
                nameof(index));
        }

        var launch = SparseKernel(index.Pattern == CudaSparsePattern.VerticalSlash ? "vs" : "bs", arguments.HeadDim);
        Span<KernelArgument> args = stackalloc KernelArgument[16];
        var n = SparseCommonArguments(args, arguments, q, k, v, o);
        foreach (var pointer in index.Pointers)
        {
            args[n++] = pointer;
        }

        args[n++] = index.HeadsPointer;
        Launch(launch, index.Heads, q, args[..n]);
    }

    /// <summary>
    /// Sparse causal attention where each slot's index serves two query heads of one KV group: slot s
    /// covers heads <paramref name="firstHeads"/>[s] and <paramref name="firstHeads"/>[s] + 1 with the same
    /// ranges, columns or key blocks. One block computes both heads of a 64-row query block, so each K/V
    /// tile it loads feeds two heads (the dense kernel's GQA-packed tiling); the result equals
    /// <see cref="SparseAttention(in AttentionArguments, CudaSparseIndex)"/> with the slot's index given
    /// to both heads. Opt-in: DESIGN's estimation gives every head its own index.
    /// </summary>
    public void SparseAttentionHeadPairs(in AttentionArguments arguments, CudaSparseIndex index, IReadOnlyList<int> firstHeads)
    {
        ArgumentNullException.ThrowIfNull(index);
        ArgumentNullException.ThrowIfNull(firstHeads);
        var (q, k, v, o) = CheckSparse(arguments);
        if (index.SpanStart != arguments.QueryStart || index.SpanLength != q.Rows || firstHeads.Count != index.Heads)
        {
            throw new ArgumentException(
                $"index covers span [{index.SpanStart}, +{index.SpanLength}) with {index.Heads} slots; the call is span [{arguments.QueryStart}, +{q.Rows}) with {firstHeads.Count} head pairs",
                nameof(index));
        }

        var group = arguments.QueryHeads / arguments.KeyValueHeads;
        foreach (var head in firstHeads)
        {
            if (head < 0 || head + 1 >= arguments.QueryHeads || head / group != (head + 1) / group)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(firstHeads), head, $"a head pair's first head must have its successor in the same KV group of {group} query heads (0..{arguments.QueryHeads - 1})");
            }
        }

        var kernel = SparsePairsKernel(index.Pattern == CudaSparsePattern.VerticalSlash ? "vs" : "bs", arguments.HeadDim);
        Span<KernelArgument> args = stackalloc KernelArgument[16];
        var n = SparseCommonArguments(args, arguments, q, k, v, o);
        foreach (var pointer in index.Pointers)
        {
            args[n++] = pointer;
        }

        args[n++] = UploadInts("pairs.heads", [.. firstHeads]);
        _context.MakeCurrent();
        var blocks = (q.Rows + SparseQueryBlock - 1) / SparseQueryBlock;
        kernel.Launch(_stream, ((uint)index.Heads, (uint)blocks), SparseThreads, (uint)SparsePairsSharedBytes(arguments.HeadDim), args[..n]);
    }

    /// <summary>
    /// A-shape attention: each query at position p attends to the sink keys <c>[0, min(initKeys, p + 1))</c>
    /// and the <paramref name="localKeys"/> keys ending at itself, keys in both counted once (as
    /// <c>SparseAttentionCpu.AShape</c>).
    /// </summary>
    public void AShapeAttention(in AttentionArguments arguments, int initKeys, int localKeys)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(initKeys, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(localKeys, 1);
        var (q, k, v, o) = CheckSparse(arguments);
        Span<KernelArgument> args = stackalloc KernelArgument[11];
        var n = SparseCommonArguments(args, arguments, q, k, v, o);
        args[n++] = initKeys;
        args[n++] = localKeys;
        Launch(SparseKernel("ashape", arguments.HeadDim), arguments.QueryHeads, q, args[..n]);
    }

    /// <summary>Copies a host index array to new device memory (on the stream; the array may be reused at once).</summary>
    internal DeviceBuffer UploadIndex<T>(T[] values)
        where T : unmanaged
    {
        var buffer = _context.Allocate(Math.Max(1, values.Length) * sizeof(T));
        try
        {
            CopyToDevice(MemoryMarshal.AsBytes(values.AsSpan()), buffer.Pointer);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }

        return buffer;
    }

    private static (CudaTensor Q, CudaTensor K, CudaTensor V, CudaTensor O) CheckSparse(in AttentionArguments arguments)
    {
        var tensors = CheckAttention(arguments);
        if (arguments.KeyLength > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(arguments), arguments.KeyLength, $"sparse attention positions must stay below {int.MaxValue}");
        }

        if (tensors.Q.Rows == 0)
        {
            throw new ArgumentException("the query span is empty", nameof(arguments));
        }

        return tensors;
    }

    /// <summary>A sparse kernel with the launch shape it was built for: query rows per block, threads, dynamic shared bytes.</summary>
    private readonly record struct SparseLaunch(CudaKernel Kernel, int QueryRows, int Threads, int SharedBytes);

    private SparseLaunch SparseKernel(string pattern, int headDim)
    {
        // A-shape and block-sparse at d 128 take the wgmma kernels where UseWgmma is on
        // (sparse_attention_ashape[_heads]_wgmma_d128, sparse_attention_bs_wgmma_d128).
        var wgmma = WgmmaSparseTiling(pattern, headDim);
        var launch = wgmma is not null
            ? new SparseLaunch(Kernel($"sparse_attention_{pattern}_wgmma_d{headDim}"), wgmma.QueryRows, wgmma.Threads, wgmma.SharedBytes)
            : pattern.StartsWith("ashape", StringComparison.Ordinal)
                ? new SparseLaunch(Kernel($"sparse_attention_{pattern}_d{headDim}"), AShapeQueryBlock, AShapeThreads, AShapeSharedBytes(headDim))
                : new SparseLaunch(Kernel($"sparse_attention_{pattern}_d{headDim}"), SparseQueryBlock, SparseThreads, SparseSharedBytes(headDim));
        if (_sharedMemoryRaised.Add(launch.Kernel.Name))
        {
            launch.Kernel.SetMaxDynamicSharedMemory(launch.SharedBytes);
        }

        return launch;
    }

    /// <summary>The wgmma tiling a sparse pattern's kernel runs with, or null for the mma.sync kernel.</summary>
    private WgmmaAttentionTiling? WgmmaSparseTiling(string pattern, int headDim)
    {
        if (!_useWgmma || headDim != WgmmaAttentionTiling.HeadDim)
        {
            return null;
        }

        return pattern.StartsWith("ashape", StringComparison.Ordinal) ? WgmmaAttentionTiling.AShape
            : pattern == "bs" ? WgmmaAttentionTiling.BlockSparse
            : null;
    }

    /// <summary>Q tile plus SparseStages stages of K and V tiles, rows padded (sparse_attention_mma.cu).</summary>
    private static int SparseSharedBytes(int headDim) => (SparseQueryBlock + (2 * SparseStages * SparseKeyTile)) * (headDim + MmaRowPad) * 2;

    private CudaKernel SparsePairsKernel(string pattern, int headDim)
    {
        var kernel = Kernel($"sparse_attention_{pattern}_pairs_d{headDim}");
        if (_sharedMemoryRaised.Add(kernel.Name))
        {
            kernel.SetMaxDynamicSharedMemory(SparsePairsSharedBytes(headDim));
        }

        return kernel;
    }

    /// <summary>The head-pair kernels' Q tile (64 positions x 2 heads) plus the same K/V stages.</summary>
    private static int SparsePairsSharedBytes(int headDim) => ((2 * SparseQueryBlock) + (2 * SparseStages * SparseKeyTile)) * (headDim + MmaRowPad) * 2;

    /// <summary>The A-shape kernels' 256-row Q tile plus the same K/V stages.</summary>
    private static int AShapeSharedBytes(int headDim) => (AShapeQueryBlock + (2 * SparseStages * SparseKeyTile)) * (headDim + MmaRowPad) * 2;

    private static int SparseCommonArguments(Span<KernelArgument> args, in AttentionArguments a, CudaTensor q, CudaTensor k, CudaTensor v, CudaTensor o)
    {
        args[0] = q.Pointer;
        args[1] = k.Pointer;
        args[2] = v.Pointer;
        args[3] = o.Pointer;
        args[4] = (int)q.Rows;
        args[5] = (int)a.QueryStart;
        args[6] = a.QueryHeads;
        args[7] = a.KeyValueHeads;
        args[8] = a.Scale * Log2E;
        return 9;
    }

    /// <summary>Launches one block per <see cref="SparseLaunch.QueryRows"/> rows of the span for each of <paramref name="slots"/> heads.</summary>
    private void Launch(SparseLaunch launch, int slots, CudaTensor q, ReadOnlySpan<KernelArgument> args)
    {
        _context.MakeCurrent();
        var blocks = (q.Rows + launch.QueryRows - 1) / launch.QueryRows;
        launch.Kernel.Launch(_stream, ((uint)slots, (uint)blocks), (uint)launch.Threads, (uint)launch.SharedBytes, args);
    }
}
