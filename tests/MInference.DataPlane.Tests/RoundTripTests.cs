namespace MInference.DataPlane.Tests;

public sealed class RoundTripTests
{
    /// <summary>A payload published on one side comes out bit-exact on the other, shape intact, and is freed on the producer.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(4093)]
    [InlineData((1 << 20) + 7)]
    [InlineData(64 << 20)]
    public async Task Payload_round_trips_bit_exact_and_is_freed(int length)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var payload = DataPlanePair.RandomPayload(length, seed: length);
        var descriptor = new PayloadDescriptor("BF16", 3, 5, length);

        var ticket = await pair.Listener.PublishAsync(descriptor, payload, ct);
        Assert.Equal(1, pair.Store.Count);
        Assert.Equal(length, pair.Store.Bytes);
        Assert.Equal(pair.Listener.Endpoint, ticket.Endpoint);

        using var received = await pair.Fetcher.FetchAsync(ticket, ct);

        Assert.Equal(descriptor, received.Descriptor);
        Assert.Equal(ticket.TransferId, received.TransferId);
        Assert.True(received.Bytes.Span.SequenceEqual(payload));
        Assert.Equal(0, pair.Store.Count);
        Assert.Equal(0, pair.Store.Bytes);
    }

    /// <summary>Many transfers at once through a small window all arrive intact, each to its own ticket.</summary>
    [Fact]
    public async Task Concurrent_transfers_through_a_small_window_all_arrive_intact()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair(maxBytes: 4 << 20, maxTickets: 3);
        var transfers = Enumerable.Range(0, 24).Select(async i =>
        {
            var payload = DataPlanePair.RandomPayload(1 + (i * 97_331 % (1 << 20)), seed: 1000 + i);
            var ticket = await pair.Listener.PublishAsync(DataPlanePair.F32(payload.Length), payload, ct);
            using var received = await pair.Fetcher.FetchAsync(ticket, ct);
            return received.Bytes.Span.SequenceEqual(payload);
        }).ToArray();

        var results = await Task.WhenAll(transfers);

        Assert.All(results, Assert.True);
        Assert.Equal(0, pair.Store.Count);
    }
}
