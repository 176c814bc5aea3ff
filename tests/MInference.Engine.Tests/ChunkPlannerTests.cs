using MInference.Engine.Planning;
using MInference.Kernels.Sparse;
using MInference.Shared.Generation;
using MInference.Shared.Patterns;

namespace MInference.Engine.Tests;

public sealed class ChunkPlannerTests
{
    private static readonly ChunkPlannerOptions _bounds = new() { MinChunkTokens = 512, MaxChunkTokens = 32768 };

    public static TheoryData<string, int> Configs => new()
    {
        { "dense", 131072 },
        { "dense", 1000003 },
        { "a-shape", 262144 },
        { "vs-default", 1048576 },
        { "mixed", 524288 },
    };

    /// <summary>
    /// On the Llama-3-8B shape with dense, A-shape, default VS and mixed configs: the chunks cover the
    /// document exactly once in order; every chunk but the last is a multiple of 64 within the bounds;
    /// sizes never grow; and every chunk the bounds did not clamp costs at most the target and more than
    /// the target minus the cost of 64 more tokens (within 10% of the target), so chunks cost about the same.
    /// </summary>
    [Theory]
    [MemberData(nameof(Configs))]
    public void Chunks_cover_the_document_once_with_even_cost(string name, int tokens)
    {
        var spec = ModelShapes.Get(ModelShapes.Llama3_8B);
        var model = new ChunkCostModel(spec, Config(name, spec.LayerCount, spec.QueryHeadCount));
        var target = ChunkPlanner.TargetForChunkCount(model, tokens, 24);

        var plan = ChunkPlanner.Plan(model, tokens, target, _bounds);

        long next = 0;
        for (var i = 0; i < plan.Chunks.Count; i++)
        {
            var chunk = plan.Chunks[i];
            Assert.Equal(next, chunk.Start);
            next = chunk.End;
            Assert.Equal(model.ChunkFlops(chunk.Start, chunk.Length), chunk.Flops);
            if (i + 1 == plan.Chunks.Count)
            {
                Assert.InRange(chunk.Length, 1, _bounds.MaxChunkTokens);
                continue;
            }

            Assert.Equal(0, chunk.Length % 64);
            Assert.InRange(chunk.Length, _bounds.MinChunkTokens, _bounds.MaxChunkTokens);
            Assert.True(chunk.Length <= plan.Chunks[Math.Max(0, i - 1)].Length, $"chunk {i} grew: {plan}");
            if (chunk.Length > _bounds.MinChunkTokens && chunk.Length < _bounds.MaxChunkTokens)
            {
                Assert.True(chunk.Flops <= target, $"chunk {i} costs {chunk.Flops:E3} above the target {target:E3}");
                Assert.True(model.ChunkFlops(chunk.Start, chunk.Length + 64) > target, $"chunk {i} could have taken 64 more tokens: {plan}");
                Assert.True(chunk.Flops >= 0.9 * target, $"chunk {i} costs {chunk.Flops:E3}, under 90% of {target:E3}: {plan}");
            }
        }

        Assert.Equal(tokens, next);
        Assert.Equal(tokens, plan.Lengths.Sum());
    }

    /// <summary>
    /// The shapes the cost model implies: with dense heads chunks shrink strictly (once below the maximum)
    /// to a third of the first or less; with A-shape heads (constant keys per query) they level off at one size once the window is full.
    /// </summary>
    [Fact]
    public void Dense_chunks_shrink_and_a_shape_chunks_level_off()
    {
        var spec = ModelShapes.Get(ModelShapes.Llama3_8B);
        var dense = new ChunkCostModel(spec);
        var densePlan = ChunkPlanner.Plan(dense, 262144, ChunkPlanner.TargetForChunkCount(dense, 262144, 16), _bounds);
        var unclamped = densePlan.Chunks.SkipLast(1).Where(c => c.Length < _bounds.MaxChunkTokens).Select(c => c.Length).ToArray();
        Assert.True(unclamped.Zip(unclamped.Skip(1), (a, b) => b < a).All(shrinks => shrinks), densePlan.ToString());
        Assert.True(densePlan.Chunks[0].Length >= 3 * densePlan.Chunks[^2].Length, densePlan.ToString());

        var ashape = new ChunkCostModel(spec, Config("a-shape", spec.LayerCount, spec.QueryHeadCount));
        var ashapePlan = ChunkPlanner.Plan(ashape, 262144, ChunkPlanner.TargetForChunkCount(ashape, 262144, 16), _bounds);
        var later = ashapePlan.Chunks.Skip(2).SkipLast(1).Select(c => c.Length).Distinct().ToArray();
        Assert.True(later.Length == 1, ashapePlan.ToString());
    }

    /// <summary>The cost model's terms on a hand-checkable shape: linear FLOPs per token, 4·d per dense pair, A-shape's capped pairs, VS estimation.</summary>
    [Fact]
    public void Cost_model_follows_its_documented_formula()
    {
        var spec = RandomModelWeights.TinySpec(layers: 2, headDim: 16);
        double h = 64, q = 4 * 16, kv = 2 * 16, i = 112, d = 16;
        var perToken = 2 * ((2 * h * (q + (2 * kv))) + (2 * q * h) + (6 * h * i));
        var lmHead = 2 * h * spec.VocabSize;
        var dense = new ChunkCostModel(spec);
        Assert.Equal(perToken * 100, dense.LinearFlops(100), 6);
        Assert.Equal((perToken * 100) + (2 * 4 * 4 * d * SpanAttentionCost.CappedPairs(200, 100, long.MaxValue)) + lmHead, dense.ChunkFlops(200, 100), 6);

        var ashape = new ChunkCostModel(spec, PatternConfig.Uniform(2, 4, HeadPattern.AShape(8, 56)));
        Assert.Equal(2 * 4 * 4 * d * 100 * 64, ashape.AttentionFlops(200, 100), 6);

        var vs = new ChunkCostModel(spec, PatternConfig.Uniform(2, 4, HeadPattern.VerticalSlash(30, 50)), new LayerRange(0, 1));
        var pairs = SpanAttentionCost.CappedPairs(4000, 100, (50 * 64) + 30);
        Assert.Equal(4 * ((4 * d * pairs) + (2.0 * 64 * d * 4100)), vs.AttentionFlops(4000, 100), 6);
        Assert.Equal((perToken / 2 * 100) + vs.AttentionFlops(4000, 100), vs.ChunkFlops(4000, 100), 6);
    }

    /// <summary>Chunk bounds that are not positive multiples of 64, or a maximum below the minimum, are rejected naming the setting.</summary>
    [Theory]
    [InlineData(500, 4096, "MinChunkTokens")]
    [InlineData(512, 4000, "MaxChunkTokens")]
    [InlineData(1024, 512, "below MinChunkTokens")]
    public void Bad_bounds_are_rejected(int min, int max, string expected)
    {
        var model = new ChunkCostModel(RandomModelWeights.TinySpec());
        var error = Assert.Throws<ArgumentOutOfRangeException>(
            () => ChunkPlanner.Plan(model, 10000, 1e9, new ChunkPlannerOptions { MinChunkTokens = min, MaxChunkTokens = max }));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The engine gives the same logits (float tolerance) pre-filling in the planner's dynamic chunks as in
    /// fixed chunks, with dense and A-shape heads (patterns whose keys per query do not depend on the
    /// chunking); the dynamic plan really has unequal sizes.
    /// </summary>
    [Fact]
    public void Engine_with_dynamic_chunks_equals_fixed_chunks()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 61);
        using var backend = EngineTestKit.Backend();
        HeadPattern[] heads = [HeadPattern.Dense, HeadPattern.AShape(16, 112), HeadPattern.Dense, HeadPattern.AShape(4, 60)];
        var config = new PatternConfig(spec.LayerCount, spec.QueryHeadCount, [.. Enumerable.Range(0, spec.LayerCount * spec.QueryHeadCount).Select(i => heads[i % heads.Length])]);
        const int tokens = 900;
        var prompt = EngineTestKit.RandomTokens(new Random(12), tokens, spec.VocabSize);
        var model = new ChunkCostModel(spec, config);
        var plan = ChunkPlanner.Plan(model, tokens, ChunkPlanner.TargetForChunkCount(model, tokens, 4), new ChunkPlannerOptions { MinChunkTokens = 64, MaxChunkTokens = 512 });
        Assert.True(plan.Lengths.Distinct().Count() > 1, plan.ToString());

        var dynamic = Prefill(weights, backend, config, prompt, plan.Lengths);
        var fixedChunks = Prefill(weights, backend, config, prompt, [.. Enumerable.Repeat(128, 7), tokens - (7 * 128)]);

        EngineTestKit.AssertClose(fixedChunks, dynamic, $"dynamic chunks ({plan}) against fixed chunks of 128");
    }

    private static float[] Prefill(RandomModelWeights weights, Kernels.Cpu.CpuBackend backend, PatternConfig config, int[] tokens, IReadOnlyList<int> chunks)
    {
        var runner = EngineTestKit.Runner(weights, backend, new ModelShardOptions { Patterns = config });
        var sequence = runner.CreateSequence(tokens.Length);
        var logits = runner.Prefill(sequence, tokens, chunks, cancellationToken: TestContext.Current.CancellationToken);
        foreach (var stage in sequence)
        {
            stage.Dispose();
        }

        return logits;
    }

    private static PatternConfig? Config(string name, int layers, int heads) => name switch
    {
        "dense" => null,
        "a-shape" => PatternConfig.Uniform(layers, heads, HeadPattern.AShape(1024, 4096)),
        "vs-default" => PatternConfig.Uniform(layers, heads, HeadPattern.Default),
        _ => new PatternConfig(
            layers,
            heads,
            [.. Enumerable.Range(0, layers * heads).Select(i => (i % 4) switch
            {
                0 => HeadPattern.Dense,
                1 => HeadPattern.AShape(128, 3968),
                2 => HeadPattern.VerticalSlash(1000, 6096),
                _ => HeadPattern.BlockSparse(),
            })]),
    };
}
