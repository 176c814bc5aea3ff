namespace MInference.Engine.Tests;

public sealed class GreedyDecodeTests
{
    /// <summary>
    /// Decoding token t one position at a time over the cache gives the logits that pre-filling
    /// prompt + t from scratch gives at its last position, step after step, and greedy decode picks
    /// the arg-max of exactly those logits.
    /// </summary>
    [Fact]
    public void Decode_step_equals_prefill_of_extended_prompt()
    {
        var spec = EngineTestKit.Spec(headDim: 32);
        using var weights = new RandomModelWeights(spec, seed: 17);
        using var backend = EngineTestKit.Backend();
        var runner = EngineTestKit.Runner(weights, backend);
        var prompt = EngineTestKit.RandomTokens(new Random(23), 70, spec.VocabSize).ToList();
        var sequence = runner.CreateSequence(80);
        var logits = runner.Prefill(sequence, prompt.ToArray(), chunkTokens: 32, cancellationToken: TestContext.Current.CancellationToken);

        var random = new Random(29);
        for (var step = 0; step < 4; step++)
        {
            // Random (not greedy) next tokens also exercise positions the model would not pick.
            var next = random.Next(spec.VocabSize);
            prompt.Add(next);
            logits = runner.RunSpan(sequence, [next], cancellationToken: TestContext.Current.CancellationToken);
            var fresh = runner.RunSpan(runner.CreateSequence(80), prompt.ToArray(), cancellationToken: TestContext.Current.CancellationToken);
            EngineTestKit.AssertClose(fresh, logits, $"decode step {step}");
        }
    }

    /// <summary>Greedy decode of N tokens equals N rounds of "pre-fill everything so far, take the arg-max".</summary>
    [Fact]
    public void Greedy_decode_matches_repeated_prefill()
    {
        var spec = EngineTestKit.Spec();
        using var weights = new RandomModelWeights(spec, seed: 31);
        using var backend = EngineTestKit.Backend();
        var runner = EngineTestKit.Runner(weights, backend);
        var prompt = EngineTestKit.RandomTokens(new Random(37), 20, spec.VocabSize);
        var sequence = runner.CreateSequence(30);

        var decoded = runner.DecodeGreedy(sequence, runner.Prefill(sequence, prompt, chunkTokens: 20, cancellationToken: TestContext.Current.CancellationToken), count: 5, cancellationToken: TestContext.Current.CancellationToken);

        var expected = new List<int>();
        var context = prompt.ToList();
        for (var i = 0; i < 5; i++)
        {
            var next = ModelRunner.ArgMax(runner.RunSpan(runner.CreateSequence(30), context.ToArray(), cancellationToken: TestContext.Current.CancellationToken));
            expected.Add(next);
            context.Add(next);
        }

        Assert.Equal(expected, decoded);
        Assert.Equal(24, sequence[0].Length);
    }
}
