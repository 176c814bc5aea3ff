using System.Collections.Concurrent;
using MInference.Kernels.Sparse;

namespace MInference.Kernels.Cuda;

/// <summary>
/// DESIGN section 6's <c>realistic</c> Vertical-Slash index for every head of every layer
/// (<see cref="RealisticSparseIndex.VerticalSlash"/>), drawn per query head from <c>seed + head</c>, so
/// runs with the same seed compute the same keys. Whole-prompt spans only (the distribution is defined
/// for a span that starts at 0). Every layer gets the same draw for a head: the selections are made once
/// per (span length, head, budgets) and kept, so a long pre-fill doesn't spend host time per layer.
/// </summary>
public sealed class RealisticVerticalSlashSource(int seed) : IVerticalSlashSelectionSource
{
    private readonly ConcurrentDictionary<(int Tokens, int Head, int Verticals, int Slashes), VerticalSlashSelection> _selections = new();

    public int Seed { get; } = seed;

    public IReadOnlyList<VerticalSlashSelection> Select(int spanStart, int spanLength, IReadOnlyList<int> heads, IReadOnlyList<(int Verticals, int Slashes)> budgets)
    {
        ArgumentNullException.ThrowIfNull(heads);
        ArgumentNullException.ThrowIfNull(budgets);
        if (spanStart != 0)
        {
            throw new ArgumentOutOfRangeException(
                nameof(spanStart), spanStart, "the realistic index is defined for whole-prompt spans only (span start 0); run chunked pre-fills with estimated indices");
        }

        if (heads.Count != budgets.Count)
        {
            throw new ArgumentException($"{budgets.Count} budgets for {heads.Count} heads: need one per head", nameof(budgets));
        }

        var result = new VerticalSlashSelection[heads.Count];
        Parallel.For(0, heads.Count, i =>
        {
            var (v, s) = VerticalSlashEstimator.ClampBudgets(budgets[i].Verticals, budgets[i].Slashes, spanLength);
            var head = heads[i];
            result[i] = _selections.GetOrAdd(
                (spanLength, head, v, s),
                key => RealisticSparseIndex.VerticalSlash(new Random(unchecked(Seed + key.Head)), key.Tokens, key.Verticals, key.Slashes));
        });
        return result;
    }
}
