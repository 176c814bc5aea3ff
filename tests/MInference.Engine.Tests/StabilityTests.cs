namespace MInference.Engine.Tests;

public sealed class StabilityTests
{
    /// <summary>
    /// Over 12 layers of bf16 random weights, the hidden states after every layer stay finite and
    /// bounded (no blow-up), and the logits are finite.
    /// </summary>
    [Fact]
    public void Hidden_states_stay_finite_over_layers()
    {
        var spec = EngineTestKit.Spec(layers: 12);
        using var weights = new RandomModelWeights(spec, seed: 53, Shared.Models.TensorDType.BFloat16);
        using var backend = EngineTestKit.Backend();
        var stages = Enumerable.Range(0, spec.LayerCount)
            .Select(layer => ModelShard.Load(weights, new LayerRange(layer, layer + 1), backend, cancellationToken: TestContext.Current.CancellationToken))
            .ToList();
        var tokens = EngineTestKit.RandomTokens(new Random(59), 120, spec.VocabSize);

        SpanResult? result = null;
        foreach (var stage in stages)
        {
            var sequence = stage.CreateSequence(tokens.Length);
            result = stage.IsFirstStage ? stage.RunSpan(sequence, tokens, cancellationToken: TestContext.Current.CancellationToken) : stage.RunSpan(sequence, result!.HiddenStates, cancellationToken: TestContext.Current.CancellationToken);
            var hidden = EngineTestKit.Download(backend, result.HiddenStates, tokens.Length);
            Assert.All(hidden, value => Assert.True(float.IsFinite(value) && Math.Abs(value) < 1e4, $"layer {stage.Layers}: hidden value {value}"));
        }

        Assert.NotNull(result!.Logits);
        Assert.All(result.Logits!, value => Assert.True(float.IsFinite(value)));
        result.Dispose();
    }
}
