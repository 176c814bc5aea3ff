using MInference.Kernels.Sparse;
using MInference.Shared.Patterns;

namespace MInference.Kernels.Tests.Sparse;

public class SparseHeadAttentionTests
{
    /// <summary>
    /// Each pattern runs its sparse path on a span long enough to be sparse, and the output equals the
    /// direct call; patterns that would select everything take the dense path, which equals the dense oracle.
    /// </summary>
    [Fact]
    public void Runs_the_configured_pattern_or_falls_back_to_dense()
    {
        var random = new Random(111);
        var span = new SparseSpan(2, 1, 16, 100, 200);
        var (query, keys, values) = SparseTestData.RandomInputs(random, span);

        var cases = new (HeadPattern Pattern, SparsePatternKind Expected)[]
        {
            (HeadPattern.VerticalSlash(40, 60), SparsePatternKind.VerticalSlash),
            (HeadPattern.VerticalSlash(1000, 6096), SparsePatternKind.Dense),
            (HeadPattern.VerticalSlash(30, 300), SparsePatternKind.Dense),
            (HeadPattern.BlockSparse(2), SparsePatternKind.BlockSparse),
            (HeadPattern.BlockSparse(100), SparsePatternKind.Dense),
            (HeadPattern.AShape(16, 64), SparsePatternKind.AShape),
            (HeadPattern.AShape(128, 3968), SparsePatternKind.Dense),
            (HeadPattern.AShape(100, 200), SparsePatternKind.Dense),
            (HeadPattern.Dense, SparsePatternKind.Dense),
        };
        foreach (var (pattern, expected) in cases)
        {
            var output = SparseTestData.Poisoned(query.Length);
            var direct = SparseTestData.Poisoned(query.Length);
            Assert.Equal(expected, SparseHeadAttention.Run(pattern, query, keys, values, output, span, 1));
            switch (expected)
            {
                case SparsePatternKind.VerticalSlash:
                    SparseAttentionCpu.VerticalSlash(query, keys, values, direct, span, 1,
                        VerticalSlashBlockIndex.Build(VerticalSlashEstimator.Estimate(query, keys, span, 1, pattern.Verticals, pattern.Slashes)));
                    break;
                case SparsePatternKind.BlockSparse:
                    SparseAttentionCpu.BlockSparse(query, keys, values, direct, span, 1, BlockSparseEstimator.Estimate(query, keys, span, 1, pattern.TopBlocks));
                    break;
                case SparsePatternKind.AShape:
                    SparseAttentionCpu.AShape(query, keys, values, direct, span, 1, pattern.InitKeys, pattern.LocalKeys);
                    break;
                default:
                    var dense = SparseTestData.MaskedAttention(query, keys, values, span, 1, (r, k) => k <= span.SpanStart + r);
                    SparseTestData.AssertHeadMatches(dense, output, span, 1);
                    continue;
            }

            for (var r = 0; r < span.SpanLength; r++)
            {
                for (var i = 0; i < 16; i++)
                {
                    var at = (r * span.QueryStride) + 16 + i;
                    Assert.Equal(direct[at], output[at]);
                }
            }
        }
    }
}
