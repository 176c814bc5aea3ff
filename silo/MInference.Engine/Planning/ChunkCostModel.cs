using MInference.Kernels.Sparse;
using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Engine.Planning;

/// <summary>
/// The floating-point work of pre-filling one chunk (queries <c>[start, start + length)</c> against keys
/// <c>[0, start + length)</c>) through a range of layers, the cost the chunk planner evens out:
/// <list type="bullet">
/// <item><b>Linear</b>, per token per layer: <c>2·h·(q + 2·kv)</c> (Q/K/V projections) + <c>2·q·h</c> (O
/// projection) + <c>6·h·i</c> (gate, up, down), with h the hidden size, q = heads·d, kv = KV heads·d, i the
/// intermediate size. Grows linearly with the chunk, independent of its position.</item>
/// <item><b>Attention</b>, per layer per query head: <c>4·d</c> per (query, key) pair computed (QKᵀ and PV),
/// pairs by the head's pattern as <see cref="SpanAttentionCost.PlannedPairs"/> counts them: dense grows with
/// the prefix (p + 1 keys for the query at p), A-shape is constant (n_init + n_local keys), VS and
/// block-sparse are capped by their budgets (s·64 + v and top-k·64 keys; an upper bound, since VS ranges
/// merge). A pattern that would select every key of the chunk's span counts as dense, as the engine runs it.</item>
/// <item><b>Index estimation</b>, per layer per head: VS scores its last 64 queries against every key,
/// <c>2·64·d·K</c> (K = start + length); block-sparse scores pooled blocks, <c>2·d·⌈length/64⌉·⌈K/64⌉</c>.</item>
/// <item><b>LM head</b> on the chunk's last position, <c>2·h·vocab</c>, when the range holds the last layer.</item>
/// </list>
/// Norms, RoPE, activations and residuals are O(tokens·h) and left out. Heads with the same pattern
/// are costed once and multiplied, so one evaluation is O(distinct patterns).
/// </summary>
public sealed class ChunkCostModel
{
    private readonly (HeadPattern Pattern, int Heads)[] _patterns;
    private readonly double _linearFlopsPerToken;
    private readonly double _lmHeadFlops;
    private readonly int _headDim;

    /// <param name="spec">The model shape.</param>
    /// <param name="patterns">Per-head patterns; null runs every head dense.</param>
    /// <param name="layers">The layers to cost (a stage's range); null: the whole model.</param>
    public ChunkCostModel(ModelSpec spec, PatternConfig? patterns = null, LayerRange? layers = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var range = layers ?? new LayerRange(0, spec.LayerCount);
        if (range.Start < 0 || range.End > spec.LayerCount || range.Count < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(layers), $"layer range {range} must be non-empty and within the model's {spec.LayerCount} layers");
        }

        patterns?.EnsureFits(spec.LayerCount, spec.QueryHeadCount, spec.Architecture);
        Spec = spec;
        Layers = range;
        _headDim = spec.HeadDim;
        _patterns = [.. Enumerable.Range(range.Start, range.Count)
            .SelectMany(layer => patterns?.Layer(layer) ?? Enumerable.Repeat(HeadPattern.Dense, spec.QueryHeadCount))
            .GroupBy(p => p)
            .Select(g => (g.Key, g.Count()))];
        double h = spec.HiddenSize, q = spec.QueryHeadCount * spec.HeadDim, kv = spec.KeyValueHeadCount * spec.HeadDim, i = spec.IntermediateSize;
        _linearFlopsPerToken = range.Count * ((2 * h * (q + (2 * kv))) + (2 * q * h) + (6 * h * i));
        _lmHeadFlops = range.End == spec.LayerCount ? 2 * h * spec.VocabSize : 0;
    }

    public ModelSpec Spec { get; }

    public LayerRange Layers { get; }

    /// <summary>Projection and MLP FLOPs of a chunk of <paramref name="length"/> tokens over the layers.</summary>
    public double LinearFlops(long length) => _linearFlopsPerToken * length;

    /// <summary>Attention plus index-estimation FLOPs of the chunk <c>[start, start + length)</c> over the layers' heads.</summary>
    public double AttentionFlops(long start, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0)
        {
            return 0;
        }

        var keys = start + length;
        double total = 0;
        foreach (var (pattern, heads) in _patterns)
        {
            var pairs = SpanAttentionCost.PlannedPairs(pattern, start, length);
            var estimation = SpanAttentionCost.KeysPerQuery(pattern, keys) == long.MaxValue
                ? 0
                : pattern.Kind switch
                {
                    SparsePatternKind.VerticalSlash => 2.0 * VerticalSlashEstimator.LastQueries * _headDim * keys,
                    SparsePatternKind.BlockSparse => 2.0 * _headDim * Blocks(length) * Blocks(keys),
                    _ => 0,
                };
            total += heads * ((4.0 * _headDim * pairs) + estimation);
        }

        return total;
    }

    /// <summary>Everything the model counts for the chunk <c>[start, start + length)</c>.</summary>
    public double ChunkFlops(long start, long length)
        => length == 0 ? 0 : LinearFlops(length) + AttentionFlops(start, length) + _lmHeadFlops;

    private static long Blocks(long tokens) => (tokens + SparseSpan.QueryBlock - 1) / SparseSpan.QueryBlock;
}
