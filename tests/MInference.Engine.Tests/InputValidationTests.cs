namespace MInference.Engine.Tests;

public sealed class InputValidationTests
{
    /// <summary>An empty span throws and says a span needs at least 1 token.</summary>
    [Fact]
    public void Empty_span_throws()
    {
        using var fixture = new Fixture();
        var error = Assert.Throws<ArgumentException>(() => fixture.Shard.RunSpan(fixture.Sequence, ReadOnlySpan<int>.Empty, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("at least 1 token", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A token id past the vocabulary throws naming the id, its index and the vocabulary size, and leaves the cache untouched.</summary>
    [Fact]
    public void Token_outside_vocabulary_throws()
    {
        using var fixture = new Fixture();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => fixture.Shard.RunSpan(fixture.Sequence, [1, 2, 97], cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("token id 97 at index 2", error.Message, StringComparison.Ordinal);
        Assert.Contains("vocabulary of 97", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, fixture.Sequence.Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => fixture.Shard.RunSpan(fixture.Sequence, [-1], cancellationToken: TestContext.Current.CancellationToken));
    }

    /// <summary>A span that would pass the KV capacity throws naming the rows needed and the capacity.</summary>
    [Fact]
    public void Span_past_capacity_throws()
    {
        using var fixture = new Fixture();
        using (fixture.Shard.RunSpan(fixture.Sequence, new int[10], cancellationToken: TestContext.Current.CancellationToken))
        {
        }

        var error = Assert.Throws<ArgumentException>(() => fixture.Shard.RunSpan(fixture.Sequence, new int[7], cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("needs 17 cache rows", error.Message, StringComparison.Ordinal);
        Assert.Contains("capacity is 16 tokens", error.Message, StringComparison.Ordinal);
        Assert.Equal(10, fixture.Sequence.Length);
    }

    /// <summary>A cancelled token stops the span with OperationCanceledException and leaves the sequence length where it was.</summary>
    [Fact]
    public void Cancelled_span_stops_and_keeps_the_sequence_length()
    {
        using var fixture = new Fixture();
        using var cancellation = new CancellationTokenSource();
        cancellation.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => fixture.Shard.RunSpan(fixture.Sequence, [1, 2, 3], cancellation.Token));
        Assert.Equal(0, fixture.Sequence.Length);
    }

    /// <summary>A zero MLP chunk size is rejected naming the setting.</summary>
    [Fact]
    public void Bad_options_throw_naming_the_setting()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new ModelShardOptions { MlpChunkTokens = 0 }.Validate());
        Assert.Contains("MlpChunkTokens", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A layer range outside the model throws naming the range and the layer count.</summary>
    [Fact]
    public void Layer_range_outside_model_throws()
    {
        var spec = EngineTestKit.Spec(layers: 3);
        using var weights = new RandomModelWeights(spec, seed: 1);
        using var backend = EngineTestKit.Backend();
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => ModelShard.Load(weights, new LayerRange(2, 4), backend, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("[2, 4)", error.Message, StringComparison.Ordinal);
        Assert.Contains("3 layers", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Token ids given to a stage that does not own layer 0 are refused.</summary>
    [Fact]
    public void Token_ids_to_later_stage_throw()
    {
        var spec = EngineTestKit.Spec(layers: 3);
        using var weights = new RandomModelWeights(spec, seed: 1);
        using var backend = EngineTestKit.Backend();
        using var stage = ModelShard.Load(weights, new LayerRange(1, 3), backend, cancellationToken: TestContext.Current.CancellationToken);
        using var sequence = stage.CreateSequence(4);
        Assert.Throws<InvalidOperationException>(() => stage.RunSpan(sequence, [1], cancellationToken: TestContext.Current.CancellationToken));
    }

    private sealed class Fixture : IDisposable
    {
        private readonly RandomModelWeights _weights;
        private readonly Kernels.Cpu.CpuBackend _backend;

        public Fixture()
        {
            _weights = new RandomModelWeights(EngineTestKit.Spec(), seed: 2);
            _backend = EngineTestKit.Backend();
            Shard = ModelShard.Load(_weights, new LayerRange(0, 3), _backend, cancellationToken: TestContext.Current.CancellationToken);
            Sequence = Shard.CreateSequence(16);
        }

        public ModelShard Shard { get; }

        public SequenceKvCache Sequence { get; }

        public void Dispose()
        {
            Sequence.Dispose();
            Shard.Dispose();
            _backend.Dispose();
            _weights.Dispose();
        }
    }
}
