namespace MInference.Kernels.Sparse;

/// <summary>What to plant in synthetic Q/K (one query head, one KV head). Defaults suit 4K-64K tokens at d = 128.</summary>
public sealed record SyntheticPatternOptions
{
    public required int Tokens { get; init; }

    public int HeadDim { get; init; } = 128;

    public int Seed { get; init; } = 1;

    /// <summary>Attention-sink keys at positions 0 .. SinkKeys-1 that every query favours.</summary>
    public int SinkKeys { get; init; } = 4;

    /// <summary>Isolated "needle" keys at random positions that every query favours.</summary>
    public int NeedleColumns { get; init; } = 16;

    /// <summary>Slashes at offsets 0, P, 2P, ... (0 is the local band); 0 plants none.</summary>
    public int SlashPeriod { get; init; } = 512;

    /// <summary>Harmonics of the slash encoding (two dims each): more make the slashes sharper (width about P / harmonics).</summary>
    public int SlashHarmonics { get; init; } = 32;

    /// <summary>
    /// Weights harmonic m by <c>(M + 1 - m) / (M + 1)</c> (a Fejér kernel instead of a Dirichlet kernel): each
    /// slash becomes one clean lobe about <c>P / (M + 1)</c> wide on each side, and the score between
    /// slashes sits just below zero (<c>-PeakLogit / M</c>) instead of ringing with side lobes up to a
    /// fifth of the peak. The attention mass then stays on the slashes, sinks and needles as in real heads
    /// (the untapered sum spreads a few percent of it over the ringing, which no sparse pattern can cover).
    /// </summary>
    public bool TaperSlashes { get; init; }

    /// <summary>Logit (after 1/sqrt(d)) of a query on a sink or needle key, and at the centre of a slash.</summary>
    public float PeakLogit { get; init; } = 8f;

    /// <summary>(query block, key block) pairs that share a private direction; 0 plants none.</summary>
    public int ClusterPairs { get; init; }

    /// <summary>Standard deviation of the uniform noise in every remaining dim of Q and K.</summary>
    public float Noise { get; init; } = 0.5f;
}

/// <summary>
/// Q/K/V with planted attention structure, for recovery tests and benchmarks with a known answer.
/// Layout is a one-head <see cref="SparseSpan"/> (<c>[Tokens, HeadDim]</c> each) covering the whole prompt.
/// <list type="bullet">
/// <item>Verticals: dim 0 is b for every query and for sink/needle keys (0 elsewhere), so those keys score
/// <c>b^2/sqrt(d) = PeakLogit</c> from every query.</item>
/// <item>Slashes: dims pairs hold <c>a_m (cos w_m t, sin w_m t)</c> with <c>w_m = 2 pi m / P</c>, m = 1..M, for
/// query and key alike, so q_p · k_j = sum_m a_m^2 cos(w_m (p - j)), a Dirichlet kernel peaking where
/// <c>p - j</c> is a multiple of P: slashes at offsets 0, P, 2P, ... whose centre scores PeakLogit
/// (<c>a_m</c> constant, or tapered with <see cref="SyntheticPatternOptions.TaperSlashes"/>).</item>
/// <item>Blocks: each planted (query block, key block) pair owns one dim set to g in all its queries and keys.</item>
/// </list>
/// </summary>
public sealed class SyntheticAttentionInputs
{
    private SyntheticAttentionInputs(SparseSpan span, float[] query, float[] keys, float[] values, int[] columns, int[] offsets, (int QueryBlock, int KeyBlock)[] blocks)
    {
        Span = span;
        Query = query;
        Keys = keys;
        Values = values;
        PlantedColumns = columns;
        PlantedOffsets = offsets;
        PlantedBlocks = blocks;
    }

    public SparseSpan Span { get; }

    public float[] Query { get; }

    public float[] Keys { get; }

    public float[] Values { get; }

    /// <summary>Sink and needle key positions, ascending.</summary>
    public int[] PlantedColumns { get; }

    /// <summary>Slash offsets 0, P, 2P, ... below Tokens.</summary>
    public int[] PlantedOffsets { get; }

    /// <summary>Planted (query block, key block) pairs, key block strictly before the query block's diagonal.</summary>
    public (int QueryBlock, int KeyBlock)[] PlantedBlocks { get; }

    public static SyntheticAttentionInputs Create(SyntheticPatternOptions options)
    {
        var n = options.Tokens;
        var d = options.HeadDim;
        var random = new Random(options.Seed);
        var slashDims = options.SlashPeriod > 0 ? 2 * options.SlashHarmonics : 0;
        var clusterDims = options.ClusterPairs;
        var firstNoiseDim = 1 + slashDims + clusterDims;
        if (firstNoiseDim > d)
        {
            throw new ArgumentException(
                $"head dim {d} cannot hold 1 vertical dim + {slashDims} slash dims + {clusterDims} cluster dims");
        }

        var sqrtD = MathF.Sqrt(d);
        var query = new float[n * d];
        var keys = new float[n * d];
        var values = new float[n * d];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = NextUniform(random, 1f);
        }

        for (var t = 0; t < n; t++)
        {
            for (var i = firstNoiseDim; i < d; i++)
            {
                query[(t * d) + i] = NextUniform(random, options.Noise);
                keys[(t * d) + i] = NextUniform(random, options.Noise);
            }
        }

        // Verticals: b^2 / sqrt(d) = PeakLogit.
        var columns = new SortedSet<int>(Enumerable.Range(0, Math.Min(options.SinkKeys, n)));
        while (columns.Count < Math.Min(n, options.SinkKeys + options.NeedleColumns))
        {
            columns.Add(random.Next(options.SinkKeys, n));
        }

        var b = MathF.Sqrt(options.PeakLogit * sqrtD);
        for (var t = 0; t < n; t++)
        {
            query[t * d] = b;
        }

        foreach (var c in columns)
        {
            keys[c * d] = b;
        }

        // Slashes: sum_m a_m^2 / sqrt(d) = PeakLogit at offsets that are multiples of the period.
        var offsets = new List<int>();
        if (options.SlashPeriod > 0)
        {
            var harmonics = options.SlashHarmonics;
            var weights = Enumerable.Range(1, harmonics)
                .Select(m => options.TaperSlashes ? (double)(harmonics + 1 - m) / (harmonics + 1) : 1.0)
                .ToArray();
            var a2 = options.PeakLogit * sqrtD / weights.Sum();
            for (var t = 0; t < n; t++)
            {
                for (var m = 1; m <= harmonics; m++)
                {
                    var angle = 2 * Math.PI * m * (t % options.SlashPeriod) / options.SlashPeriod;
                    var (sin, cos) = Math.SinCos(angle);
                    var dim = 1 + (2 * (m - 1));
                    var amplitude = Math.Sqrt(a2 * weights[m - 1]);
                    query[(t * d) + dim] = keys[(t * d) + dim] = (float)(amplitude * cos);
                    query[(t * d) + dim + 1] = keys[(t * d) + dim + 1] = (float)(amplitude * sin);
                }
            }

            for (var o = 0; o < n; o += options.SlashPeriod)
            {
                offsets.Add(o);
            }
        }

        // Blocks: g^2 / sqrt(d) = 4 * PeakLogit, so a pooled pair outscores pooled noise and rotary leftovers.
        var blocks = new List<(int, int)>();
        var blockCount = (n + SparseSpan.QueryBlock - 1) / SparseSpan.QueryBlock;
        var g = MathF.Sqrt(4 * options.PeakLogit * sqrtD);
        while (blocks.Count < options.ClusterPairs && blockCount > 2)
        {
            var qb = random.Next(2, blockCount);
            var kb = random.Next(0, qb - 1);
            if (blocks.Contains((qb, kb)))
            {
                continue;
            }

            var dim = 1 + slashDims + blocks.Count;
            for (var t = qb * SparseSpan.QueryBlock; t < Math.Min(n, (qb + 1) * SparseSpan.QueryBlock); t++)
            {
                query[(t * d) + dim] = g;
            }

            for (var t = kb * SparseSpan.KeyBlock; t < (kb + 1) * SparseSpan.KeyBlock; t++)
            {
                keys[(t * d) + dim] = g;
            }

            blocks.Add((qb, kb));
        }

        return new SyntheticAttentionInputs(new SparseSpan(1, 1, d, 0, n), query, keys, values, [.. columns], [.. offsets], [.. blocks]);
    }

    private static float NextUniform(Random random, float standardDeviation)
        => (float)((random.NextDouble() * 2) - 1) * standardDeviation * MathF.Sqrt(3f);
}
