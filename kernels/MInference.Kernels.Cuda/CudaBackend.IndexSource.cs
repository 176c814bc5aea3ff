using MInference.Kernels.Backends;

namespace MInference.Kernels.Cuda;

/// <summary>
/// Where the per-pattern sparse op (<see cref="SparseAttention(in AttentionArguments, IReadOnlyList{Shared.Patterns.HeadPattern})"/>)
/// gets its dynamic indices from, and what it reports about them. Both hooks are off by default; the
/// op then estimates every index from the span's Q/K exactly as before.
/// </summary>
public sealed partial class CudaBackend
{
    /// <summary>
    /// When set, Vertical-Slash heads still run the GPU estimation (so its cost stays in the measured time,
    /// as it would with a real model) but attend over the source's selections instead of the estimated
    /// ones. Null (the default): attend over the estimated selections.
    /// </summary>
    public IVerticalSlashSelectionSource? VerticalSlashSelectionSource { get; set; }

    /// <summary>When set, index builds and the counting of their pairs (done when the caller passes a <see cref="Kernels.Sparse.HeadPatternCoverage"/>) are timed with CUDA events.</summary>
    public SparseIndexProbe? IndexProbe { get; set; }

    /// <summary>The Vertical-Slash index of the listed heads for the per-pattern op: estimated, or the source's selections.</summary>
    private CudaSparseIndex VerticalSlashIndexForHeads(in AttentionArguments arguments, int[] heads, (int Verticals, int Slashes)[] budgets)
    {
        var probe = IndexProbe;
        var slot = probe?.Begin(_stream, counting: false);
        CudaSparseIndex index;
        if (VerticalSlashSelectionSource is { } source)
        {
            // The estimation's result is discarded; it runs for its cost only.
            _ = EstimateVerticalSlash(arguments, heads, budgets);
            var selections = source.Select((int)arguments.QueryStart, (int)arguments.Query.Rows, heads, budgets);
            index = BuildVerticalSlashIndex(selections, heads);
        }
        else
        {
            index = EstimateVerticalSlashIndex(arguments, heads, budgets);
        }

        EndProbe(probe, slot, index);
        return index;
    }

    /// <summary>The Block-Sparse index of the listed heads for the per-pattern op (always estimated), timed like the VS one.</summary>
    private CudaSparseIndex BlockSparseIndexForHeads(in AttentionArguments arguments, int[] heads, int[] topBlocks)
    {
        var probe = IndexProbe;
        var slot = probe?.Begin(_stream, counting: false);
        var index = EstimateBlockSparseIndex(arguments, heads, topBlocks);
        EndProbe(probe, slot, index);
        return index;
    }

    private void EndProbe(SparseIndexProbe? probe, int? slot, CudaSparseIndex index)
    {
        if (probe is null || slot is not { } buildSlot)
        {
            return;
        }

        probe.End(_stream, buildSlot);
    }
}
