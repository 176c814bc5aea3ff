using System.Collections;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Sparse;

/// <summary>
/// The per-head patterns of one <c>IComputeBackend.SparseAttention</c> call, with a slot per head in which
/// a backend that knows its index records what the head actually ran and how many causal (query, key)
/// pairs it computed. The engine passes one to report measured density; a backend that does not record
/// leaves the slots empty and the engine falls back to the bound of <see cref="SpanAttentionCost"/>.
/// It is a plain pattern list to every backend, so the op contract is unchanged.
/// </summary>
public sealed class HeadPatternCoverage(IReadOnlyList<HeadPattern> patterns) : IReadOnlyList<HeadPattern>
{
    private readonly HeadPattern[] _patterns = [.. patterns];
    private readonly long[] _coveredPairs = Enumerable.Repeat(-1L, patterns.Count).ToArray();
    private readonly SparsePatternKind[] _ranAs = new SparsePatternKind[patterns.Count];

    public int Count => _patterns.Length;

    public HeadPattern this[int index] => _patterns[index];

    /// <summary>True once every head has been recorded.</summary>
    public bool IsComplete => Array.TrueForAll(_coveredPairs, pairs => pairs >= 0);

    /// <summary>Called by the backend (heads may record concurrently: each writes its own slot).</summary>
    public void Record(int head, SparsePatternKind ranAs, long coveredPairs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(coveredPairs);
        _ranAs[head] = ranAs;
        _coveredPairs[head] = coveredPairs;
    }

    /// <summary>Pairs head <paramref name="head"/> computed; -1 when the backend did not record it.</summary>
    public long CoveredPairs(int head) => _coveredPairs[head];

    /// <summary>The pattern head <paramref name="head"/> ran (dense when it degenerated); meaningful once recorded.</summary>
    public SparsePatternKind RanAs(int head) => _ranAs[head];

    public IEnumerator<HeadPattern> GetEnumerator() => ((IEnumerable<HeadPattern>)_patterns).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
