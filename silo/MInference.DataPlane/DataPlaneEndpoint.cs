using System.Globalization;
using System.Net;

namespace MInference.DataPlane;

/// <summary>Writes and reads the "host:port" form tickets carry ("[::1]:5000" for IPv6).</summary>
public static class DataPlaneEndpoint
{
    public static string Format(string host, int port)
    {
        var bracketed = IPAddress.TryParse(host, out var address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? $"[{host}]"
            : host;
        return string.Create(CultureInfo.InvariantCulture, $"{bracketed}:{port}");
    }

    public static EndPoint Parse(string endpoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(endpoint);
        if (IPEndPoint.TryParse(endpoint, out var ip) && ip.Port != 0)
        {
            return ip;
        }

        var colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > IPEndPoint.MaxPort)
        {
            throw new FormatException($"data-plane endpoint '{endpoint}' is not host:port with a port 1..{IPEndPoint.MaxPort}");
        }

        return new DnsEndPoint(endpoint[..colon], port);
    }
}
