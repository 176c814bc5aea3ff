using MInference.Kernels.Backends;
using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;
using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// GPU index building (sparse_index.cu, CudaBackend.SparseIndex) against the CPU reference in
/// MInference.Kernels.Sparse on fresh random bf16 inputs: top-k selection, Vertical-Slash estimation and
/// conversion, Block-Sparse estimation, and <see cref="CudaBackend.SparseAttention(in AttentionArguments, IReadOnlyList{HeadPattern})"/>
/// end to end. Spans are whole prompts and chunks at offsets into a longer NaN-padded cache, with
/// ragged lengths and GQA groups. Where float rounding lets GPU and CPU pick different entries, the
/// entries that differ must score within a small tolerance of the selection's threshold (a near tie).
/// </summary>
public sealed class SparseIndexTests(CudaFixture fixture)
{
    /// <summary>
    /// The radix select keeps the k best scores, equal scores keeping the lower index, NaN lowest and
    /// forced indices first, exactly like a stable sort; rows with many ties, short and long rows; blocks of
    /// 1024 threads (VS selection) and 256 threads (block-sparse selection, rows up to 16K key blocks and beyond).
    /// </summary>
    [Theory]
    [InlineData(1, 1, 0, 0, 1024)]
    [InlineData(5, 3, 0, 2, 1024)]
    [InlineData(1000, 37, 10, 40, 1024)]
    [InlineData(4097, 4097, 0, 0, 1024)]
    [InlineData(70_000, 1500, 0, 30, 1024)]
    [InlineData(300_000, 6096, 0, 100, 1024)]
    [InlineData(5, 3, 0, 2, 256)]
    [InlineData(1000, 100, 990, 1000, 256)]
    [InlineData(16_384, 100, 16_000, 16_384, 256)]
    [InlineData(70_000, 1500, 0, 30, 256)]
    public void Top_k_matches_a_stable_sort(int n, int k, int forcedLow, int forcedHigh, int threads)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        const int Rows = 3;

        // Row 0 continuous, row 1 from 7 values (ties everywhere), row 2 continuous with NaNs and infinities.
        var scores = new float[Rows * n];
        for (var i = 0; i < n; i++)
        {
            scores[i] = (float)random.NextDouble();
            scores[n + i] = random.Next(7) * 0.25f;
            scores[(2 * n) + i] = random.Next(50) switch
            {
                0 => float.NaN,
                1 => float.PositiveInfinity,
                2 => float.NegativeInfinity,
                _ => (float)(random.NextDouble() - 0.5),
            };
        }

        var ks = Enumerable.Repeat(k, Rows).ToArray();
        var lows = Enumerable.Repeat(forcedLow, Rows).ToArray();
        var highs = Enumerable.Repeat(forcedHigh, Rows).ToArray();
        var actual = backend.TopKRows(scores, n, ks, lows, highs, threads);
        for (var r = 0; r < Rows; r++)
        {
            var row = scores.AsSpan(r * n, n).ToArray();
            var expected = Enumerable.Range(0, n)
                .OrderByDescending(i => i >= forcedLow && i < forcedHigh ? float.PositiveInfinity : row[i], NaNLowest.Instance)
                .ThenBy(i => i)
                .Take(k)
                .Order()
                .ToArray();
            Assert.True(expected.SequenceEqual(actual[r]), $"seed {seed}, {threads} threads, row {r}: top {k} of {n} differ: first mismatch {FirstMismatch(expected, actual[r])}");
        }
    }

    /// <summary>
    /// Vertical-Slash estimation on the GPU: column and slash scores match an f64 reference, the
    /// selections equal VerticalSlashEstimator's (up to near ties), with clamped budgets, sinks and the
    /// local band forced, on whole prompts and chunks.
    /// </summary>
    [Theory]
    [InlineData(1, 0, 1, 1, 64, 1, 1)]
    [InlineData(40, 0, 2, 1, 64, 10, 60)]
    [InlineData(64, 0, 4, 2, 128, 100, 200)]
    [InlineData(333, 0, 8, 2, 128, 120, 300)]
    [InlineData(77, 3000, 4, 1, 128, 500, 700)]
    [InlineData(700, 5000, 8, 8, 64, 64, 64)]
    [InlineData(129, 200, 4, 4, 128, 5000, 5000)]
    public void Vertical_slash_estimation_matches_cpu(int rows, int queryStart, int queryHeads, int kvHeads, int headDim, int verticals, int slashes)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, headDim, queryStart, rows);
        var (q, k, v) = SparseAttentionTests.Inputs(random, span);
        var heads = Enumerable.Range(0, queryHeads).Reverse().ToArray();
        var budgets = heads.Select(h => (verticals + h, slashes + (2 * h))).ToArray();

        VerticalSlashSelection[] gpu = [];
        var scores = new (float[] Columns, float[] Slashes)[queryHeads];
        WithInputs(backend, span, q, k, v, arguments =>
        {
            gpu = backend.EstimateVerticalSlashSelections(arguments, heads, budgets);
            for (var s = 0; s < heads.Length; s++)
            {
                scores[s] = backend.DownloadVerticalSlashScores(s, span.KeyLength);
            }
        });

        for (var s = 0; s < heads.Length; s++)
        {
            var h = heads[s];
            var (columns, slash) = ReferenceScores(q, k, span, h);
            AssertScoresClose(scores[s].Columns, columns, seed, $"head {h} column scores");
            AssertScoresClose(scores[s].Slashes, slash, seed, $"head {h} slash scores");
            var cpu = VerticalSlashEstimator.Estimate(q, k, span, h, budgets[s].Item1, budgets[s].Item2);
            AssertSameSelection(gpu[s].Columns, cpu.Columns, columns, VerticalSlashEstimator.SinkColumns, seed, $"head {h} columns");
            AssertSameSelection(gpu[s].Offsets, cpu.Offsets, slash, VerticalSlashEstimator.LocalOffsets, seed, $"head {h} offsets");
        }
    }

    /// <summary>
    /// The GPU conversion of a selection into per-block ranges and columns equals
    /// VerticalSlashBlockIndex.Build array for array, per head, including chunk offsets, ragged last
    /// blocks, merged ranges and columns inside ranges.
    /// </summary>
    [Theory]
    [InlineData(1, 0, 2, 3, 2)]
    [InlineData(64, 0, 3, 10, 5)]
    [InlineData(333, 0, 4, 150, 40)]
    [InlineData(77, 300, 2, 100, 12)]
    [InlineData(1000, 4000, 5, 300, 400)]
    [InlineData(4500, 123, 3, 1000, 2000)]
    public void Vertical_slash_conversion_matches_cpu(int rows, int queryStart, int heads, int columns, int offsets)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(heads, 1, 64, queryStart, rows);
        var selections = Enumerable.Range(0, heads).Select(_ => SparseAttentionTests.RandomSelection(random, span, columns, offsets)).ToArray();
        var index = backend.BuildVerticalSlashIndex(selections, [.. Enumerable.Range(0, heads)]);
        var parts = backend.DownloadIndex(index);
        for (var h = 0; h < heads; h++)
        {
            var expected = VerticalSlashBlockIndex.Build(selections[h]);
            var what = $"seed {seed}, head {h}";
            Assert.True(expected.RangeOffsets.SequenceEqual(parts[h].Offsets), $"{what}: range offsets differ at {FirstMismatch(expected.RangeOffsets, parts[h].Offsets)}");
            Assert.True(expected.RangeBounds.SequenceEqual(parts[h].Items), $"{what}: range bounds differ at {FirstMismatch(expected.RangeBounds, parts[h].Items)}");
            Assert.True(expected.ColumnOffsets.SequenceEqual(parts[h].ColumnOffsets), $"{what}: column offsets differ at {FirstMismatch(expected.ColumnOffsets, parts[h].ColumnOffsets)}");
            Assert.True(expected.Columns.SequenceEqual(parts[h].Columns), $"{what}: columns differ at {FirstMismatch(expected.Columns, parts[h].Columns)}");
            Assert.Equal(expected.CoveredPairs(), backend.CoveredPairs(index)[h]);
        }
    }

    /// <summary>
    /// Block-Sparse estimation on the GPU: per query block the same key blocks as BlockSparseEstimator
    /// (diagonal blocks forced, block-causal, top-k clamped), up to near ties of the pooled scores; spans of
    /// more than one 128 x 128 block-score tile in both directions.
    /// </summary>
    [Theory]
    [InlineData(1, 0, 2, 1, 64, 4)]
    [InlineData(200, 0, 4, 2, 128, 2)]
    [InlineData(1000, 0, 4, 1, 128, 5)]
    [InlineData(77, 3000, 4, 4, 64, 10)]
    [InlineData(650, 2100, 8, 2, 128, 20)]
    [InlineData(9000, 0, 4, 1, 128, 30)]
    [InlineData(3000, 6000, 2, 1, 64, 8)]
    public void Block_sparse_estimation_matches_cpu(int rows, int queryStart, int queryHeads, int kvHeads, int headDim, int topBlocks)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, headDim, queryStart, rows);
        var (q, k, v) = SparseAttentionTests.Inputs(random, span);
        var heads = Enumerable.Range(0, queryHeads).Where(h => h % 2 == 0 || queryHeads < 4).ToArray();
        var tops = heads.Select(h => topBlocks + h).ToArray();
        (int[] Offsets, int[] Items, int[] ColumnOffsets, int[] Columns)[] parts = [];
        WithInputs(backend, span, q, k, v, arguments => parts = backend.DownloadIndex(backend.EstimateBlockSparseIndex(arguments, heads, tops)));

        for (var s = 0; s < heads.Length; s++)
        {
            var h = heads[s];
            var cpu = BlockSparseEstimator.Estimate(q, k, span, h, tops[s]);
            Assert.True(cpu.BlockOffsets.SequenceEqual(parts[s].Offsets), $"seed {seed}, head {h}: block offsets differ at {FirstMismatch(cpu.BlockOffsets, parts[s].Offsets)}");
            var blockScores = ReferenceBlockScores(q, k, span, h);
            for (var b = 0; b < span.QueryBlocks; b++)
            {
                var from = cpu.BlockOffsets[b];
                var to = cpu.BlockOffsets[b + 1];
                var diagonal = (span.SpanStart + (b * SparseSpan.QueryBlock)) / SparseSpan.KeyBlock;
                var scores = blockScores[b].Select((x, i) => i >= diagonal ? double.PositiveInfinity : x).ToArray();
                AssertSameSelection(parts[s].Items[from..to], cpu.KeyBlocks[from..to], scores, 0, seed, $"head {h} query block {b}");
            }
        }
    }

    /// <summary>
    /// SparseAttention with one pattern per head (VS, Block-Sparse, A-shape, and dense where a budget covers
    /// every key) equals the CPU sparse reference run on the GPU-estimated indices, on whole prompts and chunks;
    /// given a <see cref="HeadPatternCoverage"/>, every head records what it ran and the pairs the CPU reference
    /// counts for the same index (VS, Block-Sparse) or span (A-shape, dense).
    /// </summary>
    [Theory]
    [InlineData(300, 0, 8, 2, 128)]
    [InlineData(190, 2000, 8, 4, 64)]
    [InlineData(1100, 0, 4, 1, 128)]
    [InlineData(50, 777, 4, 2, 128)]
    public void Sparse_attention_by_patterns_matches_cpu(int rows, int queryStart, int queryHeads, int kvHeads, int headDim)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, headDim, queryStart, rows);
        var (q, k, v) = SparseAttentionTests.Inputs(random, span);
        HeadPattern[] menu = [HeadPattern.VerticalSlash(40, 120), HeadPattern.BlockSparse(3), HeadPattern.AShape(64, 200), HeadPattern.VerticalSlash(100_000, 100_000)];
        var patterns = Enumerable.Range(0, queryHeads).Select(h => menu[(h + (seed % menu.Length)) % menu.Length]).ToArray();

        float[] actual = [];
        var coverage = new HeadPatternCoverage(patterns);
        VerticalSlashSelection[] vs = [];
        (int[] Offsets, int[] Items, int[] ColumnOffsets, int[] Columns)[] bs = [];
        var vsHeads = Enumerable.Range(0, queryHeads).Where(h => patterns[h].Kind == SparsePatternKind.VerticalSlash && !SparseHeadPlan.SelectsEverything(patterns[h], span.KeyLength)).ToArray();
        var bsHeads = Enumerable.Range(0, queryHeads).Where(h => patterns[h].Kind == SparsePatternKind.BlockSparse && !SparseHeadPlan.SelectsEverything(patterns[h], span.KeyLength)).ToArray();
        WithInputs(backend, span, q, k, v, arguments =>
        {
            backend.Poison(arguments.Output);
            backend.SparseAttention(arguments, coverage);
            actual = Download(backend, arguments.Output);
            if (vsHeads.Length > 0)
            {
                vs = backend.EstimateVerticalSlashSelections(arguments, vsHeads, [.. vsHeads.Select(h => (patterns[h].Verticals, patterns[h].Slashes))]);
            }

            if (bsHeads.Length > 0)
            {
                bs = backend.DownloadIndex(backend.EstimateBlockSparseIndex(arguments, bsHeads, [.. bsHeads.Select(h => patterns[h].TopBlocks)]));
            }
        });

        var expected = new float[q.Length];
        for (var h = 0; h < queryHeads; h++)
        {
            var p = patterns[h];
            long pairs;
            var ranAs = p.Kind;
            if (SparseHeadPlan.SelectsEverything(p, span.KeyLength))
            {
                SparseAttentionCpu.DenseCausal(q, k, v, expected, span, h);
                pairs = SparseCoverage.CausalPairsOf(span.SpanStart, span.SpanLength);
                ranAs = SparsePatternKind.Dense;
            }
            else if (p.Kind == SparsePatternKind.VerticalSlash)
            {
                var index = VerticalSlashBlockIndex.Build(vs[Array.IndexOf(vsHeads, h)]);
                SparseAttentionCpu.VerticalSlash(q, k, v, expected, span, h, index);
                pairs = index.CoveredPairs();
            }
            else if (p.Kind == SparsePatternKind.BlockSparse)
            {
                var part = bs[Array.IndexOf(bsHeads, h)];
                var index = new BlockSparseIndex(span.SpanStart, span.SpanLength, part.Offsets, part.Items);
                SparseAttentionCpu.BlockSparse(q, k, v, expected, span, h, index);
                pairs = index.CoveredPairs();
            }
            else
            {
                SparseAttentionCpu.AShape(q, k, v, expected, span, h, p.InitKeys, p.LocalKeys);
                pairs = SpanAttentionCost.CappedPairs(span.SpanStart, span.SpanLength, (long)p.InitKeys + p.LocalKeys);
            }

            Assert.True(coverage.CoveredPairs(h) == pairs && coverage.RanAs(h) == ranAs,
                $"head {h} ({p}) recorded {coverage.RanAs(h)} with {coverage.CoveredPairs(h)} pairs; expected {ranAs} with {pairs} (seed {seed})");
        }

        AssertClose(actual, expected, seed, $"patterns [{string.Join(", ", patterns)}] rows {rows} at {queryStart}, {queryHeads}/{kvHeads} heads, d {headDim}");
    }

    /// <summary>
    /// Full budgets are dense: a GPU-converted all-offsets VS index, and a layer of heads that all degenerate
    /// to dense or mix degenerate VS with whole-cache A-shape windows, give the dense kernel's output.
    /// </summary>
    [Theory]
    [InlineData(200, 0, 4, 2, 128)]
    [InlineData(150, 613, 8, 1, 64)]
    public void Full_budgets_equal_the_dense_kernel(int rows, int queryStart, int queryHeads, int kvHeads, int headDim)
    {
        var backend = fixture.Backend;
        backend.AttentionKernel = FlashAttentionKernel.TensorCore;
        var seed = FreshSeed();
        var random = new Random(seed);
        var span = new SparseSpan(queryHeads, kvHeads, headDim, queryStart, rows);
        var (q, k, v) = SparseAttentionTests.Inputs(random, span);
        var dense = SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments => backend.Attention(arguments));

        var all = new VerticalSlashSelection(queryStart, rows, [], [.. Enumerable.Range(0, span.KeyLength)]);
        var heads = Enumerable.Range(0, queryHeads).ToArray();
        var viaIndex = SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments =>
            backend.SparseAttention(arguments, backend.BuildVerticalSlashIndex([.. heads.Select(_ => all)], heads)));
        AssertClose(viaIndex, dense, seed, "GPU-converted all-offsets index");

        var degenerate = new HeadPatternCoverage(heads.Select(_ => HeadPattern.VerticalSlash(span.KeyLength, span.KeyLength)).ToArray());
        AssertClose(SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments => backend.SparseAttention(arguments, degenerate)), dense, seed, "all heads degenerate");
        Assert.All(heads, h => Assert.Equal((SparsePatternKind.Dense, SparseCoverage.CausalPairsOf(queryStart, rows)), (degenerate.RanAs(h), degenerate.CoveredPairs(h))));

        // Even heads degenerate to dense (run in the A-shape launch with a whole-cache window), odd heads A-shape.
        var mixed = heads.Select(h => h % 2 == 0 ? HeadPattern.VerticalSlash(span.KeyLength, 1) : HeadPattern.AShape(8, 100)).ToArray();
        var aShape = SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments => backend.AShapeAttention(arguments, 8, 100));
        var expected = new float[dense.Length];
        for (var i = 0; i < expected.Length; i++)
        {
            expected[i] = (i % span.QueryStride) / headDim % 2 == 0 ? dense[i] : aShape[i];
        }

        AssertClose(SparseAttentionTests.RunGpu(backend, span, q, k, v, arguments => backend.SparseAttention(arguments, mixed)), expected, seed, "degenerate VS heads beside A-shape heads");
    }

    private static void WithInputs(CudaBackend backend, SparseSpan span, float[] q, float[] k, float[] v, Action<AttentionArguments> run)
    {
        using var query = backend.Upload(q, span.SpanLength, span.QueryStride);
        using var keyCache = backend.Allocate(span.KeyLength + 19, span.KeyValueStride);
        using var valueCache = backend.Allocate(span.KeyLength + 19, span.KeyValueStride);
        backend.Poison(keyCache);
        backend.Poison(valueCache);
        using (var keys = backend.Upload(k, span.KeyLength, span.KeyValueStride))
        using (var values = backend.Upload(v, span.KeyLength, span.KeyValueStride))
        {
            backend.CopyRows(keys, 0, keyCache, 0, span.KeyLength);
            backend.CopyRows(values, 0, valueCache, 0, span.KeyLength);
        }

        using var output = backend.Allocate(span.SpanLength, span.QueryStride);
        backend.Poison(output);
        run(new AttentionArguments(query, keyCache, valueCache, output, span.SpanStart, span.QueryHeads, span.KeyValueHeads, span.HeadDim));
        backend.Synchronize();
    }

    /// <summary>Column and slash sums of the last queries' softmax in f64 (VerticalSlashEstimator's definition).</summary>
    private static (double[] Columns, double[] Slashes) ReferenceScores(float[] q, float[] k, SparseSpan span, int head)
    {
        var d = span.HeadDim;
        var n = span.KeyLength;
        var kv = span.KeyValueHeadOf(head) * d;
        var columns = new double[n];
        var slashes = new double[n];
        var row = new double[n];
        for (var r = span.SpanLength - Math.Min(64, span.SpanLength); r < span.SpanLength; r++)
        {
            var position = span.SpanStart + r;
            var max = double.NegativeInfinity;
            for (var j = 0; j <= position; j++)
            {
                double dot = 0;
                for (var i = 0; i < d; i++)
                {
                    dot += (double)q[(r * span.QueryStride) + (head * d) + i] * k[(j * span.KeyValueStride) + kv + i];
                }

                row[j] = dot * span.Scale;
                max = Math.Max(max, row[j]);
            }

            double sum = 0;
            for (var j = 0; j <= position; j++)
            {
                row[j] = Math.Exp(row[j] - max);
                sum += row[j];
            }

            for (var j = 0; j <= position; j++)
            {
                columns[j] += row[j] / sum;
                slashes[position - j] += row[j] / sum;
            }
        }

        return (columns, slashes);
    }

    /// <summary>Per query block, pooled Q · pooled K of every allowed key block, f64.</summary>
    private static double[][] ReferenceBlockScores(float[] q, float[] k, SparseSpan span, int head)
    {
        var d = span.HeadDim;
        var kv = span.KeyValueHeadOf(head) * d;
        double[] Mean(float[] source, int stride, int column, int first, int count)
        {
            var mean = new double[d];
            for (var r = first; r < first + count; r++)
            {
                for (var i = 0; i < d; i++)
                {
                    mean[i] += source[(r * stride) + column + i];
                }
            }

            return [.. mean.Select(x => x / count)];
        }

        var keyBlocks = Enumerable.Range(0, (span.KeyLength + 63) / 64)
            .Select(b => Mean(k, span.KeyValueStride, kv, b * 64, Math.Min(64, span.KeyLength - (b * 64)))).ToArray();
        var result = new double[span.QueryBlocks][];
        for (var b = 0; b < span.QueryBlocks; b++)
        {
            var count = Math.Min(64, span.SpanLength - (b * 64));
            var pooled = Mean(q, span.QueryStride, head * d, b * 64, count);
            var allowed = ((span.SpanStart + (b * 64) + count - 1) / 64) + 1;
            result[b] = [.. Enumerable.Range(0, allowed).Select(kb => pooled.Zip(keyBlocks[kb], (x, y) => x * y).Sum())];
        }

        return result;
    }

    private static void AssertScoresClose(float[] actual, double[] expected, int seed, string what)
    {
        for (var i = 0; i < expected.Length; i++)
        {
            var tolerance = 1e-6 + (2e-4 * Math.Abs(expected[i]));
            if (!(Math.Abs(actual[i] - expected[i]) <= tolerance))
            {
                Assert.Fail($"seed {seed}, {what}: index {i} is {actual[i]}, expected {expected[i]} (tolerance {tolerance:g3})");
            }
        }
    }

    /// <summary>
    /// The selections must be equal, except that an entry only one side chose may score (by the f64
    /// reference, forced entries +infinity) within a relative 1e-3 of the worst score both kept: a near tie.
    /// </summary>
    private static void AssertSameSelection(int[] actual, int[] expected, double[] scores, int forced, int seed, string what)
    {
        Assert.True(actual.Length == expected.Length, $"seed {seed}, {what}: {actual.Length} entries selected, expected {expected.Length}");
        double Score(int i) => i < forced ? double.PositiveInfinity : scores[i];
        var onlyActual = actual.Except(expected).ToArray();
        var onlyExpected = expected.Except(actual).ToArray();
        if (onlyActual.Length == 0 && onlyExpected.Length == 0)
        {
            return;
        }

        var threshold = expected.Select(Score).Min();
        foreach (var i in onlyActual.Concat(onlyExpected))
        {
            Assert.True(
                Math.Abs(Score(i) - threshold) <= 1e-3 * Math.Abs(threshold) + 1e-7,
                $"seed {seed}, {what}: entry {i} (score {Score(i)}) chosen by one side only, not a near tie of the threshold {threshold}; GPU-only [{string.Join(", ", onlyActual.Take(8))}], CPU-only [{string.Join(", ", onlyExpected.Take(8))}]");
        }
    }

    private static string FirstMismatch(int[] expected, int[] actual)
    {
        for (var i = 0; i < Math.Min(expected.Length, actual.Length); i++)
        {
            if (expected[i] != actual[i])
            {
                return $"index {i}: expected {expected[i]}, got {actual[i]}";
            }
        }

        return $"lengths {expected.Length} vs {actual.Length}";
    }

    /// <summary>Orders floats ascending with NaN below everything (TopK's rule).</summary>
    private sealed class NaNLowest : IComparer<float>
    {
        public static readonly NaNLowest Instance = new();

        public int Compare(float x, float y) => (float.IsNaN(x), float.IsNaN(y)) switch
        {
            (true, true) => 0,
            (true, false) => -1,
            (false, true) => 1,
            _ => x.CompareTo(y),
        };
    }
}
