using System.Net;
using System.Net.Sockets;

namespace MInference.Shared.Networking;

/// <summary>
/// Loopback ports the OS reports free now, for in-process and local clusters that must not collide with a
/// running silo. Another process may take a port between this call and its use; callers that bind at once
/// make that unlikely, not impossible.
/// </summary>
public static class LoopbackPorts
{
    /// <summary>One free loopback port.</summary>
    public static int TakeFree() => TakeFree(1)[0];

    /// <summary>
    /// <paramref name="count"/> distinct free loopback ports: all bound to port 0 together (so the OS cannot
    /// hand out the same one twice), then released.
    /// </summary>
    public static int[] TakeFree(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        try
        {
            foreach (var listener in listeners)
            {
                listener.Start();
            }

            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }
}
