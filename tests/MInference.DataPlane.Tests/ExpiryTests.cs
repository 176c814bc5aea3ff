namespace MInference.DataPlane.Tests;

public sealed class ExpiryTests
{
    /// <summary>
    /// A payload left unfetched past its lifetime can no longer be fetched (a non-retryable unknown/expired
    /// ticket), and the sweep frees it, which lets a waiting publisher in.
    /// </summary>
    [Fact]
    public async Task Expired_payload_is_refused_and_swept_freeing_room_for_a_waiting_publisher()
    {
        var ct = TestContext.Current.CancellationToken;
        var clock = new ManualClock();
        await using var pair = new DataPlanePair(maxTickets: 1, time: clock);
        var stale = await pair.Listener.PublishAsync(DataPlanePair.F32(8), DataPlanePair.RandomPayload(8, 1), ct);
        var waiting = pair.Listener.PublishAsync(DataPlanePair.F32(8), DataPlanePair.RandomPayload(8, 2), ct);
        Assert.Equal(0, pair.Store.ReleaseExpired());
        Assert.False(waiting.IsCompleted);

        clock.Advance(pair.Options.ParkedLifetime);

        var e = await Assert.ThrowsAsync<TransferFailedException>(() => pair.Fetcher.FetchAsync(stale, ct));
        Assert.False(e.IsRetryable);
        Assert.Contains("expired", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, pair.Store.ReleaseExpired());
        var fresh = await waiting;
        using var received = await pair.Fetcher.FetchAsync(fresh, ct);
        Assert.True(received.Bytes.Span.SequenceEqual(DataPlanePair.RandomPayload(8, 2)));
    }

    /// <summary>A clock the test moves by hand; timers it creates are real ones that never fire within a test.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
