using MInference.Shared.Models;
using MInference.Shared.Patterns;

namespace MInference.Engine.LayerMajor;

/// <summary>Where a sparse pre-fill's Vertical-Slash indices come from (DESIGN section 6).</summary>
public enum SparseIndexSource
{
    /// <summary>The engine's own estimation on the layer's Q/K (near-uniform, the worst case, on random weights).</summary>
    Estimated,

    /// <summary>DESIGN section 6's fixed distribution, seeded per head, in place of the estimated index.</summary>
    Realistic,
}

/// <summary>
/// A pre-fill benchmark's attention: dense, or sparse with a pattern config (DESIGN's default VS (1000, 6096)
/// on every head when none is given) run once per listed index source.
/// </summary>
public sealed record PrefillAttentionMode(bool Sparse, IReadOnlyList<SparseIndexSource> IndexSources)
{
    public const string DensePattern = "dense";
    public const string SparsePattern = "sparse";

    /// <summary>Index source of a sparse run when none is named: the one DESIGN's end-to-end target is set for.</summary>
    public const SparseIndexSource DefaultIndexSource = SparseIndexSource.Realistic;

    public static PrefillAttentionMode Dense { get; } = new(false, []);

    /// <summary>
    /// <paramref name="pattern"/> is <c>dense</c> or <c>sparse</c>; <paramref name="indexSources"/> (sparse only) a
    /// comma-separated list of <c>estimated</c> / <c>realistic</c>, or null for <see cref="DefaultIndexSource"/>.
    /// Throws <see cref="ArgumentException"/> naming the bad value.
    /// </summary>
    public static PrefillAttentionMode Parse(string pattern, string? indexSources)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (string.Equals(pattern, DensePattern, StringComparison.OrdinalIgnoreCase))
        {
            return indexSources is null
                ? Dense
                : throw new ArgumentException($"--index {indexSources}: index sources apply to --pattern {SparsePattern} only, not {DensePattern}", nameof(indexSources));
        }

        if (!string.Equals(pattern, SparsePattern, StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"--pattern {pattern}: not a pre-fill attention mode; use {DensePattern} or {SparsePattern}", nameof(pattern));
        }

        if (indexSources is null)
        {
            return new PrefillAttentionMode(true, [DefaultIndexSource]);
        }

        var sources = new List<SparseIndexSource>();
        foreach (var part in indexSources.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var source = part.ToUpperInvariant() switch
            {
                "ESTIMATED" => SparseIndexSource.Estimated,
                "REALISTIC" => SparseIndexSource.Realistic,
                _ => throw new ArgumentException($"--index {part}: not an index source; use estimated or realistic (or both, comma-separated)", nameof(indexSources)),
            };
            if (!sources.Contains(source))
            {
                sources.Add(source);
            }
        }

        return sources.Count > 0
            ? new PrefillAttentionMode(true, sources)
            : throw new ArgumentException($"--index '{indexSources}' names no index source; use estimated, realistic or both", nameof(indexSources));
    }

    /// <summary>The sparse run's config: <paramref name="fromFile"/> checked against the model, or VS (1000, 6096) on every head.</summary>
    public static PatternConfig ConfigFor(ModelSpec spec, PatternConfig? fromFile)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (fromFile is null)
        {
            return PatternConfig.Uniform(spec.LayerCount, spec.QueryHeadCount, HeadPattern.Default);
        }

        fromFile.EnsureFits(spec.LayerCount, spec.QueryHeadCount, spec.Architecture);
        return fromFile;
    }
}
