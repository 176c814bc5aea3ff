using System.Net.Sockets;

namespace MInference.DataPlane.Tests;

public sealed class DisposeTests
{
    /// <summary>
    /// Disposing closes idle connections, fails waiting publishers, frees every parked payload and stops the
    /// listener, so a later fetch is refused.
    /// </summary>
    [Fact]
    public async Task Dispose_releases_payloads_waiters_and_connections()
    {
        var ct = TestContext.Current.CancellationToken;
        var pair = new DataPlanePair(maxTickets: 2);
        var ticket = await pair.Listener.PublishAsync(DataPlanePair.F32(64), DataPlanePair.RandomPayload(64, 1), ct);
        await pair.Listener.PublishAsync(DataPlanePair.F32(64), DataPlanePair.RandomPayload(64, 2), ct);
        var waiting = pair.Listener.PublishAsync(DataPlanePair.F32(64), DataPlanePair.RandomPayload(64, 3), ct);
        using var idle = new TcpClient();
        await idle.ConnectAsync(System.Net.IPAddress.Loopback, ((System.Net.IPEndPoint)DataPlaneEndpoint.Parse(pair.Listener.Endpoint)).Port, ct);

        await pair.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting);
        Assert.Equal(0, pair.Store.Count);
        Assert.Equal(0, pair.Store.Bytes);
        Assert.True(await IsClosedByPeerAsync(idle, ct), "the idle connection is still open after dispose");
        var e = await Assert.ThrowsAsync<TransferFailedException>(() => pair.Fetcher.FetchAsync(ticket, ct));
        Assert.True(e.IsRetryable);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pair.Listener.PublishAsync(DataPlanePair.F32(4), new byte[4], ct));
    }

    /// <summary>
    /// A peer's close shows as end of stream (FIN) or as a reset (RST) depending on timing and on
    /// whether the listener had unread bytes: both mean the connection was closed.
    /// </summary>
    private static async Task<bool> IsClosedByPeerAsync(TcpClient client, CancellationToken ct)
    {
        try
        {
            return await client.GetStream().ReadAsync(new byte[1], ct) == 0;
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return true;
        }
    }
}
