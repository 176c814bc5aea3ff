using System.Runtime.InteropServices;
using MInference.Kernels.Backends;
using MInference.Kernels.Cuda.Interop;
using MInference.Kernels.Sparse;

namespace MInference.Kernels.Cuda;

/// <summary>
/// Sparse index building on the GPU (sparse_index.cu): Vertical-Slash estimation and top-k, the
/// selection's conversion to the per-block index, Block-Sparse pooling and top-k. Results live in the
/// backend's workspace: each build replaces the previous one's index of the same pattern.
/// </summary>
public sealed unsafe partial class CudaBackend
{
    internal const int EstimateRows = 64;
    internal const int TopKThreads = 1024;

    /// <summary>Query blocks x key blocks of one block-score block (sparse_index.cu's BlockScoreTile).</summary>
    internal const int BlockScoreTile = 128;

    /// <summary>Threads of a block-sparse top-k block (sparse_index.cu's BlockTopKThreads).</summary>
    internal const int BlockTopKThreads = 256;
    internal const int ConvertThreads = 128;

    private SparseWorkspace? _sparseWorkspace;

    private SparseWorkspace Workspace => _sparseWorkspace ??= new SparseWorkspace(_context, _stream);

    /// <summary>Device bytes the sparse index workspace holds now.</summary>
    public long SparseWorkspaceBytes => _sparseWorkspace?.Bytes ?? 0;

    /// <summary>
    /// Vertical-Slash estimation of the listed query heads over the span in <paramref name="arguments"/>
    /// (VerticalSlashEstimator on the GPU), converted into the kernels' per-block index. Budgets clamp
    /// like <see cref="VerticalSlashEstimator.ClampBudgets"/>.
    /// </summary>
    public CudaSparseIndex EstimateVerticalSlashIndex(in AttentionArguments arguments, IReadOnlyList<int> heads, IReadOnlyList<(int Verticals, int Slashes)> budgets)
    {
        var selection = EstimateVerticalSlash(arguments, heads, budgets);
        return ConvertVerticalSlash(selection);
    }

    /// <summary>The GPU estimation's selections, downloaded (tests and diagnostics).</summary>
    public VerticalSlashSelection[] EstimateVerticalSlashSelections(in AttentionArguments arguments, IReadOnlyList<int> heads, IReadOnlyList<(int Verticals, int Slashes)> budgets)
    {
        var selection = EstimateVerticalSlash(arguments, heads, budgets);
        var columns = DownloadInts(selection.Columns, (long)selection.Slots * selection.ColumnStride);
        var offsets = DownloadInts(selection.Offsets, (long)selection.Slots * selection.OffsetStride);
        var result = new VerticalSlashSelection[selection.Slots];
        for (var s = 0; s < selection.Slots; s++)
        {
            result[s] = new VerticalSlashSelection(
                selection.SpanStart,
                selection.SpanLength,
                columns.AsSpan(s * selection.ColumnStride, selection.Budgets[2 * s]).ToArray(),
                offsets.AsSpan(s * selection.OffsetStride, selection.Budgets[(2 * s) + 1]).ToArray());
        }

        return result;
    }

    /// <summary>Uploads CPU-made selections (one per listed head) and converts them on the GPU.</summary>
    public CudaSparseIndex BuildVerticalSlashIndex(IReadOnlyList<VerticalSlashSelection> selections, IReadOnlyList<int> heads)
    {
        ArgumentNullException.ThrowIfNull(selections);
        ArgumentNullException.ThrowIfNull(heads);
        if (selections.Count == 0 || selections.Count != heads.Count)
        {
            throw new ArgumentException($"{selections.Count} selections for {heads.Count} heads: need one per head, at least one", nameof(selections));
        }

        var first = selections[0];
        if (selections.Any(s => s.SpanStart != first.SpanStart || s.SpanLength != first.SpanLength))
        {
            throw new ArgumentException($"selections cover different spans; one build needs one span (head 0: [{first.SpanStart}, +{first.SpanLength}))", nameof(selections));
        }

        var slots = selections.Count;
        var columnStride = Math.Max(1, selections.Max(s => s.Columns.Length));
        var offsetStride = Math.Max(1, selections.Max(s => s.Offsets.Length));
        var columns = new int[slots * columnStride];
        var offsets = new int[slots * offsetStride];
        var budgets = new int[2 * slots];
        for (var s = 0; s < slots; s++)
        {
            selections[s].Columns.CopyTo(columns, s * columnStride);
            selections[s].Offsets.CopyTo(offsets, s * offsetStride);
            budgets[2 * s] = selections[s].Columns.Length;
            budgets[(2 * s) + 1] = selections[s].Offsets.Length;
        }

        _context.MakeCurrent();
        var device = new DeviceSelection(
            [.. heads], UploadInts("vs.heads", [.. heads]), first.SpanStart, first.SpanLength, budgets, UploadInts("vs.budgets", budgets),
            UploadInts("vs.columns", columns), columnStride, UploadInts("vs.offsets", offsets), offsetStride);
        return ConvertVerticalSlash(device);
    }

    /// <summary>
    /// Block-Sparse estimation of the listed heads (BlockSparseEstimator on the GPU): 64-row means of the
    /// span's Q and of the keys, f32 block scores, top <paramref name="topBlocks"/> per query block with the
    /// diagonal blocks forced.
    /// </summary>
    public CudaSparseIndex EstimateBlockSparseIndex(in AttentionArguments arguments, IReadOnlyList<int> heads, IReadOnlyList<int> topBlocks)
    {
        var (q, k, _, _) = CheckSparse(arguments);
        CheckHeads(arguments, heads);
        if (topBlocks.Count != heads.Count || topBlocks.Any(t => t < 1))
        {
            throw new ArgumentException($"{topBlocks.Count} top-k values for {heads.Count} heads; each must be at least 1", nameof(topBlocks));
        }

        _context.MakeCurrent();
        var d = arguments.HeadDim;
        var spanStart = (int)arguments.QueryStart;
        var rows = (int)q.Rows;
        var keyLength = spanStart + rows;
        var queryBlocks = (rows + SparseSpan.QueryBlock - 1) / SparseSpan.QueryBlock;
        var keyBlocks = (keyLength + SparseSpan.KeyBlock - 1) / SparseSpan.KeyBlock;
        var slots = heads.Count;

        var pooledQ = Workspace.Get("bs.pooledQ", (long)queryBlocks * q.Columns * sizeof(float));
        var pooledK = Workspace.Get("bs.pooledK", (long)keyBlocks * k.Columns * sizeof(float));
        var pool = Kernel("bs_pool_rows");
        pool.Launch(_stream, ((uint)((q.Columns + 255) / 256), (uint)queryBlocks), 256, 0, q.Pointer, (long)rows, q.Columns, pooledQ);
        pool.Launch(_stream, ((uint)((k.Columns + 255) / 256), (uint)keyBlocks), 256, 0, k.Pointer, (long)keyLength, k.Columns, pooledK);

        // Per slot, block b keeps min(max(top, diagonal blocks), allowed) key blocks: offsets known up front.
        var offsets = new int[slots * (queryBlocks + 1)];
        var bases = new long[slots];
        long total = 0;
        for (var s = 0; s < slots; s++)
        {
            bases[s] = total;
            var at = s * (queryBlocks + 1);
            for (var b = 0; b < queryBlocks; b++)
            {
                var firstPosition = spanStart + (b * SparseSpan.QueryBlock);
                var lastPosition = spanStart + Math.Min((b + 1) * SparseSpan.QueryBlock, rows) - 1;
                var allowed = (lastPosition / SparseSpan.KeyBlock) + 1;
                var diagonal = firstPosition / SparseSpan.KeyBlock;
                offsets[at + b + 1] = offsets[at + b] + Math.Min(Math.Max(topBlocks[s], allowed - diagonal), allowed);
            }

            total += offsets[at + queryBlocks];
        }

        var offsetsDevice = UploadInts("bs.offsets", offsets);
        var basesDevice = Upload("bs.bases", bases);
        var chosen = Workspace.Get("bs.keyBlocks", total * sizeof(int));
        var scores = Workspace.Get("bs.scores", (long)queryBlocks * keyBlocks * sizeof(float));
        var blockScores = Kernel($"bs_block_scores_d{d}");
        var select = Kernel("bs_select_top_k");
        for (var s = 0; s < slots; s++)
        {
            var head = heads[s];
            blockScores.Launch(
                _stream, ((uint)((keyBlocks + BlockScoreTile - 1) / BlockScoreTile), (uint)((queryBlocks + BlockScoreTile - 1) / BlockScoreTile)), 256, 0,
                pooledQ, pooledK, head, head / (arguments.QueryHeads / arguments.KeyValueHeads), arguments.QueryHeads, arguments.KeyValueHeads,
                queryBlocks, keyBlocks, spanStart, rows, scores);
            select.Launch(
                _stream, ((uint)queryBlocks, 1), BlockTopKThreads, 0,
                scores, keyBlocks, spanStart, rows, topBlocks[s], offsetsDevice + (ulong)(s * (queryBlocks + 1) * sizeof(int)),
                chosen + (ulong)(bases[s] * sizeof(int)));
        }

        return new CudaSparseIndex(
            CudaSparsePattern.BlockSparse, [.. heads], UploadInts("bs.heads", [.. heads]), spanStart, rows, [offsetsDevice, chosen, basesDevice]);
    }

    /// <summary>
    /// (query, key) pairs the index's kernel computes after the causal mask, per slot: the work of the
    /// index (density = pairs / causal pairs).
    /// </summary>
    public long[] CoveredPairs(CudaSparseIndex index)
    {
        ArgumentNullException.ThrowIfNull(index);
        _context.MakeCurrent();
        var slots = index.Heads;
        var blocks = index.QueryBlocks;
        var pairs = Workspace.Get("pairs", slots * sizeof(long));
        Kernel("sparse_fill_i32").Launch(_stream, (1, 1), 64, 0, pairs, 0, (long)(2 * slots));
        var p = index.Pointers;
        var grid = ((uint)((blocks + ConvertThreads - 1) / ConvertThreads), (uint)slots);
        if (index.Pattern == CudaSparsePattern.VerticalSlash)
        {
            Kernel("vs_index_pairs").Launch(_stream, grid, ConvertThreads, 0, p[0], p[1], p[2], p[3], index.SpanStart, index.SpanLength, blocks, pairs);
        }
        else
        {
            Kernel("bs_index_pairs").Launch(_stream, grid, ConvertThreads, 0, p[0], p[1], p[2], index.SpanStart, index.SpanLength, blocks, pairs);
        }

        var result = new long[slots];
        fixed (long* r = result)
        {
            CudaException.Check(CudaDriver.MemcpyDtoHAsync(r, pairs, (nuint)(slots * sizeof(long)), _stream.Value), "cuMemcpyDtoHAsync_v2");
        }

        _stream.Synchronize();
        return result;
    }

    /// <summary>The last estimation's column and slash scores of one slot (before forcing), for tests.</summary>
    internal (float[] Columns, float[] Slashes) DownloadVerticalSlashScores(int slot, int keyLength)
    {
        var columns = new float[keyLength];
        var slashes = new float[keyLength];
        var offset = (ulong)((long)slot * keyLength * sizeof(float));
        fixed (float* c = columns)
        fixed (float* s = slashes)
        {
            CudaException.Check(CudaDriver.MemcpyDtoHAsync(c, Workspace.Get("vs.columnScores", 0) + offset, (nuint)(keyLength * sizeof(float)), _stream.Value), "cuMemcpyDtoHAsync_v2");
            CudaException.Check(CudaDriver.MemcpyDtoHAsync(s, Workspace.Get("vs.slashScores", 0) + offset, (nuint)(keyLength * sizeof(float)), _stream.Value), "cuMemcpyDtoHAsync_v2");
        }

        _stream.Synchronize();
        return (columns, slashes);
    }

    /// <summary>
    /// GPU top-k of each row of a [rows, n] f32 matrix (sparse_index.cu's radix select) with blocks of
    /// <paramref name="threads"/> threads (1024 as VS selection, 256 as block-sparse selection), for tests.
    /// </summary>
    internal int[][] TopKRows(float[] scores, int n, int[] k, int[] forcedLow, int[] forcedHigh, int threads = TopKThreads)
    {
        if (threads is not (TopKThreads or BlockTopKThreads))
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, $"top-k blocks run {TopKThreads} or {BlockTopKThreads} threads");
        }

        var rows = k.Length;
        var stride = Math.Max(1, k.Max());
        _context.MakeCurrent();
        using var device = _context.Allocate(scores.Length * sizeof(float));
        CopyToDevice(MemoryMarshal.AsBytes(scores.AsSpan()), device.Pointer);
        var output = Workspace.Get("test.topk", (long)rows * stride * sizeof(int));
        Kernel("top_k_rows").Launch(
            _stream, ((uint)rows, 1), (uint)threads, 0,
            device.Pointer, n, UploadInts("test.k", k), UploadInts("test.lo", forcedLow), UploadInts("test.hi", forcedHigh), output, stride);
        var all = DownloadInts(output, (long)rows * stride);
        return [.. Enumerable.Range(0, rows).Select(r => all.AsSpan(r * stride, Math.Min(k[r], n)).ToArray())];
    }

    /// <summary>
    /// A GPU-built index's arrays per slot, downloaded (tests): for VS (RangeOffsets, RangeBounds,
    /// ColumnOffsets, Columns); for Block-Sparse (BlockOffsets, KeyBlocks, [], []).
    /// </summary>
    internal (int[] Offsets, int[] Items, int[] ColumnOffsets, int[] Columns)[] DownloadIndex(CudaSparseIndex index)
    {
        var slots = index.Heads;
        var blocks = index.QueryBlocks;
        var p = index.Pointers;
        var result = new (int[], int[], int[], int[])[slots];
        var vs = index.Pattern == CudaSparsePattern.VerticalSlash;
        var offsets = DownloadInts(p[0], (long)slots * (blocks + 1));
        var bases = DownloadLongs(p[2], slots);
        var columnOffsets = vs ? DownloadInts(p[3], (long)slots * (blocks + 1)) : [];
        var columnBases = vs ? DownloadLongs(p[5], slots) : [];
        var width = vs ? 2 : 1;
        for (var s = 0; s < slots; s++)
        {
            var own = offsets.AsSpan(s * (blocks + 1), blocks + 1).ToArray();
            var items = DownloadInts(p[1] + (ulong)(bases[s] * width * sizeof(int)), (long)own[blocks] * width);
            if (vs)
            {
                var ownColumns = columnOffsets.AsSpan(s * (blocks + 1), blocks + 1).ToArray();
                result[s] = (own, items, ownColumns, DownloadInts(p[4] + (ulong)(columnBases[s] * sizeof(int)), ownColumns[blocks]));
            }
            else
            {
                result[s] = (own, items, [], []);
            }
        }

        return result;
    }

    /// <summary>A selection in device memory: per slot its budgets, columns and offsets at fixed strides.</summary>
    private sealed record DeviceSelection(
        int[] Heads, ulong HeadsPointer, int SpanStart, int SpanLength, int[] Budgets, ulong BudgetsPointer,
        ulong Columns, int ColumnStride, ulong Offsets, int OffsetStride)
    {
        public int Slots => Heads.Length;
    }

    private DeviceSelection EstimateVerticalSlash(in AttentionArguments arguments, IReadOnlyList<int> heads, IReadOnlyList<(int Verticals, int Slashes)> budgets)
    {
        var (q, k, _, _) = CheckSparse(arguments);
        CheckHeads(arguments, heads);
        if (budgets.Count != heads.Count || budgets.Any(b => b.Verticals < 1 || b.Slashes < 1))
        {
            throw new ArgumentException($"{budgets.Count} budgets for {heads.Count} heads; each needs verticals and slashes of at least 1", nameof(budgets));
        }

        _context.MakeCurrent();
        var d = arguments.HeadDim;
        var spanStart = (int)arguments.QueryStart;
        var rows = (int)q.Rows;
        var keyLength = spanStart + rows;
        var slots = heads.Count;
        var clamped = new int[2 * slots];
        for (var s = 0; s < slots; s++)
        {
            (clamped[2 * s], clamped[(2 * s) + 1]) = VerticalSlashEstimator.ClampBudgets(budgets[s].Verticals, budgets[s].Slashes, keyLength);
        }

        var headsPointer = UploadInts("vs.heads", [.. heads]);
        var budgetsPointer = UploadInts("vs.budgets", clamped);

        // Chunks of keys per block: enough blocks to fill the GPU at every length, few partials to merge.
        var chunkKeys = keyLength >= 1 << 16 ? 2048 : 256;
        var chunks = (keyLength + chunkKeys - 1) / chunkKeys;
        var partial = Workspace.Get("vs.partial", (long)slots * chunks * EstimateRows * 8);
        var stats = Workspace.Get("vs.stats", (long)slots * EstimateRows * 8);
        var columnScores = Workspace.Get("vs.columnScores", (long)slots * keyLength * sizeof(float));
        var slashScores = Workspace.Get("vs.slashScores", (long)slots * keyLength * sizeof(float));
        LaunchElementwise(Kernel("sparse_fill_i32"), (long)slots * keyLength, slashScores, 0, (long)slots * keyLength);

        var tileBytes = 2 * EstimateRows * (d + MmaRowPad) * 2;
        var statsKernel = EstimateKernel($"vs_estimate_stats_d{d}", tileBytes);
        var scoresBytes = tileBytes + (EstimateRows * (EstimateRows + 1) * sizeof(float));
        var scoresKernel = EstimateKernel($"vs_estimate_scores_d{d}", scoresBytes);
        var scaleLog2 = arguments.Scale * Log2E;
        statsKernel.Launch(
            _stream, ((uint)slots, (uint)chunks), SparseThreads, (uint)tileBytes,
            q.Pointer, k.Pointer, rows, spanStart, arguments.QueryHeads, arguments.KeyValueHeads, scaleLog2, headsPointer, chunkKeys, partial);
        Kernel("vs_estimate_merge").Launch(_stream, ((uint)slots, 1), EstimateRows, 0, partial, chunks, stats);
        scoresKernel.Launch(
            _stream, ((uint)slots, (uint)chunks), SparseThreads, (uint)scoresBytes,
            q.Pointer, k.Pointer, rows, spanStart, arguments.QueryHeads, arguments.KeyValueHeads, scaleLog2, headsPointer, chunkKeys, stats,
            (long)keyLength, columnScores, slashScores);

        var columnStride = Enumerable.Range(0, slots).Max(s => clamped[2 * s]);
        var offsetStride = Enumerable.Range(0, slots).Max(s => clamped[(2 * s) + 1]);
        var columns = Workspace.Get("vs.columns", (long)slots * columnStride * sizeof(int));
        var offsets = Workspace.Get("vs.offsets", (long)slots * offsetStride * sizeof(int));
        Kernel("vs_select_top_k").Launch(
            _stream, ((uint)slots, 2), TopKThreads, 0,
            columnScores, slashScores, (long)keyLength, keyLength, budgetsPointer,
            VerticalSlashEstimator.SinkColumns, VerticalSlashEstimator.LocalOffsets, columns, columnStride, offsets, offsetStride);
        return new DeviceSelection([.. heads], headsPointer, spanStart, rows, clamped, budgetsPointer, columns, columnStride, offsets, offsetStride);
    }

    /// <summary>Selection -> per-block index: count per block, scan per slot, read back the totals, write.</summary>
    private CudaSparseIndex ConvertVerticalSlash(DeviceSelection selection)
    {
        var slots = selection.Slots;
        var blocks = (selection.SpanLength + SparseSpan.QueryBlock - 1) / SparseSpan.QueryBlock;
        var rangeOffsets = Workspace.Get("vs.rangeOffsets", (long)slots * (blocks + 1) * sizeof(int));
        var columnOffsets = Workspace.Get("vs.columnOffsets", (long)slots * (blocks + 1) * sizeof(int));
        var totals = Workspace.Get("vs.totals", 2L * slots * sizeof(int));
        var grid = ((uint)((blocks + ConvertThreads - 1) / ConvertThreads), (uint)slots);
        Kernel("vs_convert_count").Launch(
            _stream, grid, ConvertThreads, 0,
            selection.Offsets, selection.OffsetStride, selection.Columns, selection.ColumnStride, selection.BudgetsPointer,
            selection.SpanStart, selection.SpanLength, blocks, rangeOffsets, columnOffsets);
        Kernel("sparse_offsets_scan").Launch(_stream, ((uint)slots, 2), TopKThreads, 0, rangeOffsets, columnOffsets, blocks, totals);

        // The totals size the index arrays: one small read-back (and stream sync) per build.
        var counts = DownloadInts(totals, 2L * slots);
        var rangeBase = new long[slots];
        var columnBase = new long[slots];
        long ranges = 0, columns = 0;
        for (var s = 0; s < slots; s++)
        {
            rangeBase[s] = ranges;
            columnBase[s] = columns;
            ranges += counts[2 * s];
            columns += counts[(2 * s) + 1];
        }

        var rangeBasePointer = Upload("vs.rangeBase", rangeBase);
        var columnBasePointer = Upload("vs.columnBase", columnBase);
        var rangeBounds = Workspace.Get("vs.rangeBounds", Math.Max(1, 2 * ranges) * sizeof(int));
        var columnList = Workspace.Get("vs.columnList", Math.Max(1, columns) * sizeof(int));
        Kernel("vs_convert_write").Launch(
            _stream, grid, ConvertThreads, 0,
            selection.Offsets, selection.OffsetStride, selection.Columns, selection.ColumnStride, selection.BudgetsPointer,
            selection.SpanStart, selection.SpanLength, blocks, rangeOffsets, columnOffsets, rangeBasePointer, columnBasePointer, rangeBounds, columnList);
        return new CudaSparseIndex(
            CudaSparsePattern.VerticalSlash, selection.Heads, selection.HeadsPointer, selection.SpanStart, selection.SpanLength,
            [rangeOffsets, rangeBounds, rangeBasePointer, columnOffsets, columnList, columnBasePointer]);
    }

    private CudaKernel EstimateKernel(string name, int sharedBytes)
    {
        var kernel = Kernel(name);
        if (_sharedMemoryRaised.Add(kernel.Name))
        {
            kernel.SetMaxDynamicSharedMemory(sharedBytes);
        }

        return kernel;
    }

    private static void CheckHeads(in AttentionArguments arguments, IReadOnlyList<int> heads)
    {
        ArgumentNullException.ThrowIfNull(heads);
        if (heads.Count == 0)
        {
            throw new ArgumentException("at least one query head is needed", nameof(heads));
        }

        foreach (var h in heads)
        {
            if ((uint)h >= (uint)arguments.QueryHeads)
            {
                throw new ArgumentOutOfRangeException(nameof(heads), h, $"query head {h} outside [0, {arguments.QueryHeads})");
            }
        }
    }

    private ulong UploadInts(string name, int[] values) => Upload(name, values);

    private ulong Upload<T>(string name, T[] values)
        where T : unmanaged
    {
        var pointer = Workspace.Get(name, Math.Max(1, values.Length) * sizeof(T));
        CopyToDevice(MemoryMarshal.AsBytes(values.AsSpan()), pointer);
        return pointer;
    }

    private long[] DownloadLongs(ulong source, long count)
    {
        var result = new long[count];
        fixed (long* r = result)
        {
            CudaException.Check(CudaDriver.MemcpyDtoHAsync(r, source, (nuint)(count * sizeof(long)), _stream.Value), "cuMemcpyDtoHAsync_v2");
        }

        _stream.Synchronize();
        return result;
    }

    private int[] DownloadInts(ulong source, long count)
    {
        var result = new int[count];
        if (count == 0)
        {
            return result;
        }

        fixed (int* r = result)
        {
            CudaException.Check(CudaDriver.MemcpyDtoHAsync(r, source, (nuint)(count * sizeof(int)), _stream.Value), "cuMemcpyDtoHAsync_v2");
        }

        _stream.Synchronize();
        return result;
    }
}
