namespace MInference.DataPlane.Tests;

public sealed class FailureTests
{
    /// <summary>A ticket the producer never parked fails for good, naming the ticket and the endpoint.</summary>
    [Fact]
    public async Task Unknown_ticket_fails_not_retryable()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var ticket = new DataPlaneTicket(Guid.NewGuid(), pair.Listener.Endpoint, DataPlanePair.F32(4));

        var e = await Assert.ThrowsAsync<TransferFailedException>(() => pair.Fetcher.FetchAsync(ticket, ct));

        Assert.False(e.IsRetryable);
        Assert.Contains(ticket.TransferId.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Contains(pair.Listener.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.Contains("does not hold", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A ticket is good once: after an acknowledged fetch, a second fetch is an unknown ticket.</summary>
    [Fact]
    public async Task Ticket_is_redeemable_once()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var ticket = await pair.Listener.PublishAsync(DataPlanePair.F32(32), DataPlanePair.RandomPayload(32, 5), ct);
        using (await pair.Fetcher.FetchAsync(ticket, ct))
        {
        }

        var e = await Assert.ThrowsAsync<TransferFailedException>(() => pair.Fetcher.FetchAsync(ticket, ct));
        Assert.False(e.IsRetryable);
    }

    /// <summary>A bit flipped on the wire is caught by the checksum; the payload stays parked and a retry gets it intact.</summary>
    [Fact]
    public async Task Corrupted_payload_is_detected_and_a_retry_succeeds()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var faults = 0;
        pair.Listener.FaultInjector = _ => Interlocked.Increment(ref faults) == 1 ? TransferFault.CorruptOneBit : TransferFault.None;
        var payload = DataPlanePair.RandomPayload(300_001, 7);
        var ticket = await pair.Listener.PublishAsync(DataPlanePair.F32(payload.Length), payload, ct);

        var e = await Assert.ThrowsAsync<TransferFailedException>(() => pair.Fetcher.FetchAsync(ticket, ct));
        Assert.True(e.IsRetryable);
        Assert.Contains("checksum mismatch", e.Message, StringComparison.Ordinal);
        Assert.Contains(ticket.TransferId.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Equal(1, pair.Store.Count);

        using var received = await pair.Fetcher.FetchAsync(ticket, ct);
        Assert.True(received.Bytes.Span.SequenceEqual(payload));
        Assert.Equal(0, pair.Store.Count);
    }

    /// <summary>A connection closed halfway through the payload is a retryable failure; the retry gets the bytes intact.</summary>
    [Fact]
    public async Task Connection_dropped_mid_transfer_is_retryable_and_a_retry_succeeds()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var faults = 0;
        pair.Listener.FaultInjector = _ => Interlocked.Increment(ref faults) == 1 ? TransferFault.DropHalfway : TransferFault.None;
        var payload = DataPlanePair.RandomPayload(2_000_003, 8);
        var ticket = await pair.Listener.PublishAsync(DataPlanePair.F32(payload.Length), payload, ct);

        var e = await Assert.ThrowsAsync<TransferFailedException>(() => pair.Fetcher.FetchAsync(ticket, ct));
        Assert.True(e.IsRetryable);
        Assert.Contains(pair.Listener.Endpoint, e.Message, StringComparison.Ordinal);
        Assert.Equal(1, pair.Store.Count);

        using var received = await pair.Fetcher.FetchAsync(ticket, ct);
        Assert.True(received.Bytes.Span.SequenceEqual(payload));
    }

    /// <summary>A producer that is gone (connection refused) is a retryable failure naming the endpoint.</summary>
    [Fact]
    public async Task Refused_connection_is_retryable()
    {
        var ct = TestContext.Current.CancellationToken;
        var pair = new DataPlanePair();
        var ticket = await pair.Listener.PublishAsync(DataPlanePair.F32(4), new byte[4], ct);
        await pair.DisposeAsync();

        var e = await Assert.ThrowsAsync<TransferFailedException>(() => pair.Fetcher.FetchAsync(ticket, ct));

        Assert.True(e.IsRetryable);
        Assert.Contains(ticket.Endpoint, e.Message, StringComparison.Ordinal);
    }

    /// <summary>Bad settings are refused, naming the setting and the value.</summary>
    [Fact]
    public void Invalid_options_are_refused_with_the_setting_named()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DataPlaneOptions { Port = 70000 }.Validate());
        Assert.Contains("Port", e.Message, StringComparison.Ordinal);
        Assert.Contains("70000", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new DataPlaneOptions { ListenAddress = "not-an-ip" }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataPlaneOptions { MaxParkedTickets = 0 }.Validate());
    }
}
