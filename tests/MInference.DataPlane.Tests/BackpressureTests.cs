namespace MInference.DataPlane.Tests;

public sealed class BackpressureTests
{
    /// <summary>With the ticket window full a publisher waits, and a receiver's take (acknowledged fetch) lets it in.</summary>
    [Fact]
    public async Task Publisher_waits_while_the_ticket_window_is_full_and_resumes_after_a_take()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair(maxTickets: 2);
        var first = await pair.Listener.PublishAsync(DataPlanePair.F32(16), DataPlanePair.RandomPayload(16, 1), ct);
        await pair.Listener.PublishAsync(DataPlanePair.F32(16), DataPlanePair.RandomPayload(16, 2), ct);

        var blocked = pair.Listener.PublishAsync(DataPlanePair.F32(16), DataPlanePair.RandomPayload(16, 3), ct);
        Assert.False(blocked.IsCompleted);
        Assert.Equal(2, pair.Store.Count);

        using (await pair.Fetcher.FetchAsync(first, ct))
        {
        }

        var third = await blocked;
        Assert.Equal(2, pair.Store.Count);
        using var received = await pair.Fetcher.FetchAsync(third, ct);
        Assert.True(received.Bytes.Span.SequenceEqual(DataPlanePair.RandomPayload(16, 3)));
    }

    /// <summary>The byte limit holds publishers back too; the one let in is the one that now fits.</summary>
    [Fact]
    public async Task Publisher_waits_while_the_byte_limit_is_reached_and_resumes_after_a_take()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair(maxBytes: 100, maxTickets: 8);
        var first = await pair.Listener.PublishAsync(DataPlanePair.F32(60), DataPlanePair.RandomPayload(60, 1), ct);
        var waiting = pair.Listener.PublishAsync(DataPlanePair.F32(60), DataPlanePair.RandomPayload(60, 2), ct);
        var resumed = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = waiting.ContinueWith(_ => resumed.TrySetResult(pair.Store.Bytes), TaskScheduler.Default);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(60, pair.Store.Bytes);

        Assert.True(pair.Store.Release(first.TransferId));

        await waiting;
        Assert.Equal(60, await resumed.Task);
    }

    /// <summary>A waiting publisher can be cancelled, and it leaves the store's accounting untouched.</summary>
    [Fact]
    public async Task Waiting_publisher_is_cancellable_and_reserves_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair(maxTickets: 1);
        await pair.Listener.PublishAsync(DataPlanePair.F32(8), DataPlanePair.RandomPayload(8, 1), ct);
        using var cancel = new CancellationTokenSource();

        var waiting = pair.Listener.PublishAsync(DataPlanePair.F32(8), DataPlanePair.RandomPayload(8, 2), cancel.Token);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(1, pair.Store.Count);
        Assert.Equal(8, pair.Store.Bytes);
    }

    /// <summary>A payload bigger than the whole store is refused at once (it could never fit), naming the limit.</summary>
    [Fact]
    public async Task Payload_larger_than_the_store_is_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair(maxBytes: 10);
        var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => pair.Listener.PublishAsync(DataPlanePair.F32(12), new byte[12], ct));
        Assert.Contains("10 bytes", e.Message, StringComparison.Ordinal);
    }
}
