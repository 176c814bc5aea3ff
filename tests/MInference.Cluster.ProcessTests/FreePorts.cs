using System.Net;
using System.Net.Sockets;

namespace MInference.Cluster.ProcessTests;

internal static class FreePorts
{
    /// <summary>Distinct loopback ports the OS reports free now (bound to port 0 together, then released).</summary>
    public static int[] Take(int count)
    {
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
