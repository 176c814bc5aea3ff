using MInference.Kernels.Cpu;

namespace MInference.Engine.Tests;

public sealed class ShardingTests
{
    /// <summary>
    /// Stages [0, k) then [k, L) give the same logits and K/V caches as one stage [0, L), for every
    /// split point, both on one backend and with the hidden states crossing to a second backend.
    /// </summary>
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    public void Split_stages_equal_one_stage(int split, bool secondBackend)
    {
        var spec = EngineTestKit.Spec(layers: 4);
        using var weights = new RandomModelWeights(spec, seed: 41);
        using var backend = EngineTestKit.Backend();
        using var other = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 1 });
        var tokens = EngineTestKit.RandomTokens(new Random(43), 90, spec.VocabSize);
        var whole = EngineTestKit.Runner(weights, backend);
        var split1 = ModelShard.Load(weights, new LayerRange(0, split), backend, cancellationToken: TestContext.Current.CancellationToken);
        var split2 = ModelShard.Load(weights, new LayerRange(split, spec.LayerCount), secondBackend ? other : backend, cancellationToken: TestContext.Current.CancellationToken);
        var sharded = new ModelRunner([split1, split2]);

        var wholeSequence = whole.CreateSequence(100);
        var shardedSequence = sharded.CreateSequence(100);
        var expected = whole.Prefill(wholeSequence, tokens, 40, cancellationToken: TestContext.Current.CancellationToken);
        var actual = sharded.Prefill(shardedSequence, tokens, 40, cancellationToken: TestContext.Current.CancellationToken);

        EngineTestKit.AssertClose(expected, actual, "logits");
        for (var layer = 0; layer < spec.LayerCount; layer++)
        {
            var stage = layer < split ? 0 : 1;
            var stageBackend = stage == 1 && secondBackend ? (Kernels.Backends.IComputeBackend)other : backend;
            EngineTestKit.AssertClose(
                EngineTestKit.Download(backend, wholeSequence[0].KeyCache(layer), 90),
                EngineTestKit.Download(stageBackend, shardedSequence[stage].KeyCache(layer), 90),
                $"layer {layer} K cache");
        }
    }

    /// <summary>A middle stage reads only its own layers' tensors: no embedding, no other layers, no LM head.</summary>
    [Fact]
    public void Middle_stage_reads_only_its_layers()
    {
        var spec = EngineTestKit.Spec(layers: 4);
        using var weights = new RandomModelWeights(spec, seed: 47);
        using var backend = EngineTestKit.Backend();

        using var stage = ModelShard.Load(weights, new LayerRange(1, 3), backend, cancellationToken: TestContext.Current.CancellationToken);

        Assert.NotEmpty(weights.Read);
        Assert.All(weights.Read, name => Assert.True(
            name.StartsWith("model.layers.1.", StringComparison.Ordinal) || name.StartsWith("model.layers.2.", StringComparison.Ordinal),
            $"stage [1, 3) read '{name}'"));
        Assert.False(stage.IsFirstStage);
        Assert.False(stage.IsLastStage);
    }
}
