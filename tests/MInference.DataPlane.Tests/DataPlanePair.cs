namespace MInference.DataPlane.Tests;

/// <summary>A producer (store + loopback listener on an ephemeral port) and a receiver, disposed together.</summary>
internal sealed class DataPlanePair : IAsyncDisposable
{
    public DataPlanePair(long maxBytes = 256L << 20, int maxTickets = 8, TimeProvider? time = null, bool deviceIpc = true)
    {
        Options = new DataPlaneOptions
        {
            ListenAddress = "127.0.0.1",
            Port = 0,
            MaxParkedBytes = maxBytes,
            MaxParkedTickets = maxTickets,
            ChunkBytes = 64 << 10,
            TransferTimeout = TimeSpan.FromSeconds(60),
            DeviceIpc = deviceIpc,
        };
        Store = ParkedPayloadStore.Create(Options, time);
        Listener = DataPlaneListener.Start(Store, Options);
        Fetcher = new DataPlaneFetcher(Options);
    }

    public DataPlaneOptions Options { get; }

    public ParkedPayloadStore Store { get; }

    public DataPlaneListener Listener { get; }

    public DataPlaneFetcher Fetcher { get; }

    public static byte[] RandomPayload(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static PayloadDescriptor F32(int length) => new("F32", length / 4, 1, length);

    public async ValueTask DisposeAsync()
    {
        await Listener.DisposeAsync();
        Store.Dispose();
    }
}
