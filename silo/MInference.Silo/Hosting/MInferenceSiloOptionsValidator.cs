using System.Net;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MInference.Silo.Hosting;

/// <summary>Stops the silo at start with messages that name each bad setting and its limit.</summary>
internal sealed class MInferenceSiloOptionsValidator : IValidateOptions<MInferenceSiloOptions>
{
    private const int MaxCpuDevices = 256;

    /// <summary>Longest drain allowed: past it a rolling upgrade of many silos stalls for too long.</summary>
    private static readonly TimeSpan _maxDrainTimeout = TimeSpan.FromMinutes(10);

    public ValidateOptionsResult Validate(string? name, MInferenceSiloOptions options)
    {
        var failures = new List<string>();
        var s = MInferenceSiloOptions.SectionName;
        if (string.IsNullOrWhiteSpace(options.SiloName) || options.SiloName.Contains('/', StringComparison.Ordinal))
        {
            failures.Add($"{s}:SiloName '{options.SiloName}' must be non-empty and contain no '/' (it is the first half of stage keys)");
        }

        CheckPort(failures, $"{s}:SiloPort", options.SiloPort);
        CheckPort(failures, $"{s}:GatewayPort", options.GatewayPort);
        if (options.PrimarySiloPort != 0)
        {
            CheckPort(failures, $"{s}:PrimarySiloPort", options.PrimarySiloPort);
        }

        if (options.CpuDevices is < 1 or > MaxCpuDevices)
        {
            failures.Add($"{s}:CpuDevices is {options.CpuDevices}; it must be between 1 and {MaxCpuDevices}");
        }

        if (options.CpuDeviceMemoryBytes < 1 << 20)
        {
            failures.Add($"{s}:CpuDeviceMemoryBytes is {options.CpuDeviceMemoryBytes}; it must be at least 1 MiB ({1 << 20})");
        }

        if (options.CpuThreadsPerDevice < 1)
        {
            failures.Add($"{s}:CpuThreadsPerDevice is {options.CpuThreadsPerDevice}; it must be at least 1");
        }

        if (options.MaxDocumentTokens < 1)
        {
            failures.Add($"{s}:MaxDocumentTokens is {options.MaxDocumentTokens}; it must be at least 1");
        }

        if (options.MaxChunkTokens < 1)
        {
            failures.Add($"{s}:MaxChunkTokens is {options.MaxChunkTokens}; it must be at least 1");
        }

        if (options.SiloPort == options.GatewayPort)
        {
            failures.Add($"{s}:SiloPort and {s}:GatewayPort are both {options.SiloPort}; they must differ");
        }

        CheckClustering(failures, options);

        if (options.DrainTimeout < TimeSpan.Zero || options.DrainTimeout > _maxDrainTimeout)
        {
            failures.Add($"{s}:DrainTimeout is {options.DrainTimeout}; it must be between 00:00:00 and {_maxDrainTimeout}");
        }

        if (options.DashboardEnabled)
        {
            CheckPort(failures, $"{s}:DashboardPort", options.DashboardPort);
            if (options.DashboardPort == options.SiloPort || options.DashboardPort == options.GatewayPort)
            {
                failures.Add($"{s}:DashboardPort is {options.DashboardPort}, which {s}:SiloPort or {s}:GatewayPort already uses");
            }

            if (!IPAddress.TryParse(options.DashboardListenAddress, out _))
            {
                failures.Add($"{s}:DashboardListenAddress '{options.DashboardListenAddress}' is not an IP address (use 127.0.0.1, or 0.0.0.0 for every interface)");
            }
        }

        if (options.OtlpEndpoint is { Length: > 0 } otlp
            && (!Uri.TryCreate(otlp, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)))
        {
            failures.Add($"{s}:OtlpEndpoint '{otlp}' must be an absolute http:// or https:// address such as http://otel-collector:4317");
        }

        foreach (var (id, directory) in options.Models)
        {
            if (!Directory.Exists(directory))
            {
                failures.Add($"{s}:Models:{id} names '{directory}', which is not a directory");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void CheckClustering(List<string> failures, MInferenceSiloOptions options)
    {
        var s = MInferenceSiloOptions.SectionName;
        if (!Enum.IsDefined(options.Clustering))
        {
            failures.Add($"{s}:Clustering is {options.Clustering}; it must be Localhost or Redis");
        }

        CheckId(failures, $"{s}:ClusterId", options.ClusterId);
        CheckId(failures, $"{s}:ServiceId", options.ServiceId);
        if (options.Clustering == ClusteringMode.Redis)
        {
            if (string.IsNullOrWhiteSpace(options.RedisConnectionString))
            {
                failures.Add($"{s}:RedisConnectionString is empty; Clustering=Redis needs one such as 'redis:6379'");
            }
            else
            {
                try
                {
                    _ = ConfigurationOptions.Parse(options.RedisConnectionString);
                }
                catch (ArgumentException e)
                {
                    failures.Add($"{s}:RedisConnectionString '{options.RedisConnectionString}' does not parse: {e.Message}");
                }
            }
        }

        if (options.AdvertisedAddress is { } address && (address.Length == 0 || address.Any(char.IsWhiteSpace)))
        {
            failures.Add($"{s}:AdvertisedAddress '{address}' must be an IP address or a host name");
        }

        if (options.Clustering == ClusteringMode.Localhost && options.KubernetesHosting)
        {
            failures.Add($"{s}:KubernetesHosting needs Clustering=Redis (pods on different nodes cannot use localhost clustering)");
        }
    }

    private static void CheckId(List<string> failures, string setting, string value)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Any(c => char.IsWhiteSpace(c) || c == '/'))
        {
            failures.Add($"{setting} '{value}' must be non-empty, without spaces or '/'");
        }
    }

    private static void CheckPort(List<string> failures, string setting, int port)
    {
        if (port is < 1 or > 65535)
        {
            failures.Add($"{setting} is {port}; it must be between 1 and 65535");
        }
    }
}
