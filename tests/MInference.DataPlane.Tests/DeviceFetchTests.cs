using System.Net;
using System.Net.Sockets;

namespace MInference.DataPlane.Tests;

/// <summary>
/// The device fetch (CUDA IPC between processes of one host) as the data plane negotiates it, without a GPU:
/// a fake export whose descriptor is random bytes, and an importer that copies the descriptor it was handed.
/// </summary>
public sealed class DeviceFetchTests
{
    /// <summary>
    /// Same host, export offered: the importer gets the exact descriptor, the bytes never travel, and the
    /// acknowledgement frees the parked payload and disposes the export.
    /// </summary>
    [Fact]
    public async Task Same_host_receiver_imports_the_export_and_its_acknowledgement_frees_it()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var (ticket, payload, export) = await PublishAsync(pair, seed: 11, ct);

        var delivery = await pair.Fetcher.FetchAsync(ticket, Import, ct);

        Assert.NotNull(delivery.Device);
        Assert.Null(delivery.Bytes);
        Assert.Null(delivery.FallbackReason);
        Assert.Equal(export.Descriptor.ToArray(), delivery.Device.Descriptor);
        Assert.True(export.Disposed, "the acknowledged export was not freed");
        Assert.Equal(0, pair.Store.Count);
        Assert.Empty(pair.Fetcher.BytesOnlyEndpoints);
        Assert.NotEmpty(payload);
    }

    /// <summary>
    /// A listener on another host refuses the device handle; the receiver pulls the bytes on the same
    /// connection (bit-exact), remembers the endpoint, and does not ask it for a device handle again.
    /// </summary>
    [Fact]
    public async Task Listener_on_another_host_refuses_and_the_bytes_arrive_instead()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var receiver = new DataPlaneFetcher(new DataPlaneOptions { HostId = "receiver-host", TransferTimeout = TimeSpan.FromSeconds(60) });
        var (ticket, payload, export) = await PublishAsync(pair, seed: 12, ct);

        var delivery = await receiver.FetchAsync(ticket, Import, ct);

        AssertBytes(delivery, payload);
        Assert.Contains("receiver-host", delivery.FallbackReason, StringComparison.Ordinal);
        Assert.True(export.Disposed, "the export outlived the acknowledged bytes");
        Assert.Equal(0, pair.Store.Count);
        Assert.Contains(ticket.Endpoint, receiver.BytesOnlyEndpoints.Keys);

        var (second, secondPayload, secondExport) = await PublishAsync(pair, seed: 13, ct);
        var imports = 0;
        var again = await receiver.FetchAsync(second, d => { imports++; return Import(d); }, ct);

        AssertBytes(again, secondPayload);
        Assert.Null(again.FallbackReason);
        Assert.Equal(0, imports);
        Assert.Equal(0, secondExport.DescriptorReads);
    }

    /// <summary>A listener with device IPC switched off refuses with a reason naming the setting; the bytes arrive.</summary>
    [Fact]
    public async Task Listener_with_device_ipc_off_refuses_and_the_bytes_arrive_instead()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair(deviceIpc: false);
        var receiver = new DataPlaneFetcher(new DataPlaneOptions { TransferTimeout = TimeSpan.FromSeconds(60) });
        var (ticket, payload, export) = await PublishAsync(pair, seed: 14, ct);

        var delivery = await receiver.FetchAsync(ticket, Import, ct);

        AssertBytes(delivery, payload);
        Assert.Contains("DataPlane:DeviceIpc", delivery.FallbackReason, StringComparison.Ordinal);
        Assert.Equal(0, export.DescriptorReads);
        Assert.True(export.Disposed);
    }

    /// <summary>
    /// An import that throws (say, the driver cannot open the handle) acknowledges nothing: the payload is
    /// still parked, the bytes arrive bit-exact, and the failure is remembered for the endpoint.
    /// </summary>
    [Fact]
    public async Task A_failed_import_falls_back_to_the_bytes_without_losing_the_payload()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var (ticket, payload, export) = await PublishAsync(pair, seed: 15, ct);

        var delivery = await pair.Fetcher.FetchAsync<ImportedCopy>(ticket, _ => throw new InvalidOperationException("cuIpcOpenMemHandle_v2 failed: CUDA_ERROR_INVALID_VALUE"), ct);

        AssertBytes(delivery, payload);
        Assert.Contains("CUDA_ERROR_INVALID_VALUE", delivery.FallbackReason, StringComparison.Ordinal);
        Assert.Contains(ticket.Endpoint, pair.Fetcher.BytesOnlyEndpoints.Keys);
        Assert.Equal(0, pair.Store.Count);
        Assert.True(export.Disposed);
    }

    /// <summary>A receiver without a GPU (no importer) never asks for the device handle: the bytes come directly.</summary>
    [Fact]
    public async Task Receiver_without_a_gpu_pulls_bytes_and_never_reads_the_export()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var (ticket, payload, export) = await PublishAsync(pair, seed: 16, ct);

        var delivery = await pair.Fetcher.FetchAsync<ImportedCopy>(ticket, importDevice: null, ct);

        AssertBytes(delivery, payload);
        Assert.Null(delivery.FallbackReason);
        Assert.Equal(0, export.DescriptorReads);
        Assert.True(export.Disposed);
    }

    /// <summary>A payload parked without an export (a CPU producer) comes as bytes, and the endpoint stays eligible for the next one.</summary>
    [Fact]
    public async Task Host_only_payload_comes_as_bytes_and_the_endpoint_stays_eligible()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var payload = DataPlanePair.RandomPayload(50_000, seed: 17);
        var ticket = await pair.Listener.PublishAsync(DataPlanePair.F32(payload.Length), payload, ct);

        var delivery = await pair.Fetcher.FetchAsync(ticket, Import, ct);

        AssertBytes(delivery, payload);
        Assert.Contains("host memory only", delivery.FallbackReason, StringComparison.Ordinal);
        Assert.Empty(pair.Fetcher.BytesOnlyEndpoints);
    }

    /// <summary>
    /// A listener that predates the device fetch closes the connection on its op: the receiver fetches the
    /// bytes over a new connection, bit-exact, and remembers the endpoint (an old peer stands in front of the real listener).
    /// </summary>
    [Fact]
    public async Task Old_listener_that_closes_on_the_device_op_still_delivers_the_bytes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        await using var oldPeer = new OldListenerProxy(pair.Listener.Endpoint);
        var (ticket, payload, _) = await PublishAsync(pair, seed: 18, ct);
        var throughOldPeer = ticket with { Endpoint = oldPeer.Endpoint };

        var delivery = await pair.Fetcher.FetchAsync(throughOldPeer, Import, ct);

        AssertBytes(delivery, payload);
        Assert.Contains("predates", delivery.FallbackReason, StringComparison.Ordinal);
        Assert.Contains(oldPeer.Endpoint, pair.Fetcher.BytesOnlyEndpoints.Keys);
        Assert.Equal(1, oldPeer.RefusedDeviceFetches);
        Assert.Equal(0, pair.Store.Count);
    }

    /// <summary>A device fetch of another protocol version is refused with a code and a reason naming both versions.</summary>
    [Fact]
    public async Task Device_fetch_of_another_version_is_refused_naming_both_versions()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var (ticket, _, export) = await PublishAsync(pair, seed: 19, ct);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(DataPlaneEndpoint.Parse(pair.Listener.Endpoint), ct);
        var request = new System.Buffers.ArrayBufferWriter<byte>();
        WireFormat.WriteDeviceRequest(request, ticket.TransferId, version: 7, pair.Listener.HostId);

        await socket.SendAsync(request.WrittenMemory, ct);
        var reply = new byte[512];
        var received = 0;
        while (received < 3 || received < 3 + reply[2])
        {
            var n = await socket.ReceiveAsync(reply.AsMemory(received), ct);
            Assert.True(n > 0, $"the listener closed after {received} reply bytes");
            received += n;
        }

        Assert.Equal(WireFormat.StatusRefused, reply[0]);
        Assert.Equal((byte)DeviceRefusal.Version, reply[1]);
        var reason = System.Text.Encoding.ASCII.GetString(reply, 3, reply[2]);
        Assert.Contains("version 7", reason, StringComparison.Ordinal);
        Assert.Contains($"version {WireFormat.DeviceProtocolVersion}", reason, StringComparison.Ordinal);
        Assert.Equal(0, export.DescriptorReads);
        Assert.Equal(1, pair.Store.Count);
    }

    /// <summary>A device fetch of a ticket the producer does not hold fails as the byte fetch does: not retryable, importer never called.</summary>
    [Fact]
    public async Task Device_fetch_of_an_unknown_ticket_fails_without_retry()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var pair = new DataPlanePair();
        var (ticket, _, _) = await PublishAsync(pair, seed: 21, ct);
        var unknown = ticket with { TransferId = Guid.NewGuid() };
        var imports = 0;

        var error = await Assert.ThrowsAsync<TransferFailedException>(() => pair.Fetcher.FetchAsync(unknown, d => { imports++; return Import(d); }, ct));

        Assert.False(error.IsRetryable);
        Assert.Contains("does not hold this ticket", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, imports);
        Assert.Equal(1, pair.Store.Count);
    }

    /// <summary>Exports of payloads nobody fetched are disposed with the store.</summary>
    [Fact]
    public async Task Unfetched_exports_are_disposed_with_the_store()
    {
        var ct = TestContext.Current.CancellationToken;
        FakeExport export;
        await using (var pair = new DataPlanePair())
        {
            (_, _, export) = await PublishAsync(pair, seed: 20, ct);
            Assert.False(export.Disposed);
        }

        Assert.True(export.Disposed);
    }

    private static ImportedCopy Import(ReadOnlyMemory<byte> descriptor) => new(descriptor.ToArray());

    private static async Task<(DataPlaneTicket Ticket, byte[] Payload, FakeExport Export)> PublishAsync(DataPlanePair pair, int seed, CancellationToken cancellationToken)
    {
        var payload = DataPlanePair.RandomPayload(200_003, seed);
        var export = new FakeExport(DataPlanePair.RandomPayload(144, seed + 1000));
        var ticket = await pair.Listener.PublishAsync(DataPlanePair.F32(payload.Length), payload, export, cancellationToken);
        return (ticket, payload, export);
    }

    private static void AssertBytes<T>(DataPlaneDelivery<T> delivery, byte[] payload)
        where T : class
    {
        Assert.Null(delivery.Device);
        Assert.NotNull(delivery.Bytes);
        using var bytes = delivery.Bytes;
        Assert.True(bytes.Bytes.Span.SequenceEqual(payload), "the fallback bytes differ from the published payload");
    }

    private sealed record ImportedCopy(byte[] Descriptor);

    private sealed class FakeExport(byte[] descriptor) : IDeviceExport
    {
        private int _reads;

        public ReadOnlyMemory<byte> Descriptor
        {
            get
            {
                Interlocked.Increment(ref _reads);
                return descriptor;
            }
        }

        public int DescriptorReads => Volatile.Read(ref _reads) - 1; // the store reads the length once at publication

        public bool Disposed { get; private set; }

        public void Dispose()
        {
            Assert.False(Disposed, "an export was disposed twice");
            Disposed = true;
        }
    }

    /// <summary>
    /// Stands in for a listener older than the device fetch: a connection whose first request is a device
    /// fetch is closed (as the old listener does on an unknown op); any other connection is piped to the real listener.
    /// </summary>
    private sealed class OldListenerProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly EndPoint _target;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private int _refused;

        public OldListenerProxy(string target)
        {
            _target = DataPlaneEndpoint.Parse(target);
            _listener.Start();
            Endpoint = DataPlaneEndpoint.Format("127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port);
            _loop = Task.Run(LoopAsync);
        }

        public string Endpoint { get; }

        public int RefusedDeviceFetches => Volatile.Read(ref _refused);

        private async Task LoopAsync()
        {
            var pipes = new List<Task>();
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptSocketAsync(_stop.Token);
                    pipes.Add(ServeAsync(client));
                }
            }
            catch (OperationCanceledException)
            {
            }

            await Task.WhenAll(pipes);
        }

        private async Task ServeAsync(Socket client)
        {
            using (client)
            {
                var first = new byte[WireFormat.RequestLength];
                var received = 0;
                while (received < first.Length)
                {
                    var n = await client.ReceiveAsync(first.AsMemory(received), _stop.Token);
                    if (n == 0)
                    {
                        return;
                    }

                    received += n;
                }

                if (first[0] == WireFormat.OpFetchDevice)
                {
                    Interlocked.Increment(ref _refused);
                    return;
                }

                using var upstream = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await upstream.ConnectAsync(_target, _stop.Token);
                await upstream.SendAsync(first, _stop.Token);
                await using var clientStream = new NetworkStream(client);
                await using var upstreamStream = new NetworkStream(upstream);
                var up = clientStream.CopyToAsync(upstreamStream, _stop.Token);
                var down = upstreamStream.CopyToAsync(clientStream, _stop.Token);
                await Task.WhenAny(up, down);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try
            {
                await _loop;
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
            {
            }

            _stop.Dispose();
        }
    }
}
