using System.Globalization;
using System.Reflection;
using MInference.Silo.Hosting;

namespace MInference.Cluster.ProcessTests;

/// <summary>How to start one standalone silo process of a Redis cluster on loopback (same ports on every restart).</summary>
internal sealed record SiloProcess(string Name, int SiloPort, int GatewayPort)
{
    /// <summary>The built MInference.Silo.dll (its path is baked in by the project file).</summary>
    public static string Assembly { get; } = typeof(SiloProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "SiloAssembly").Value!;

    public ChildProcess Start(string redis, string clusterId, IReadOnlyDictionary<string, string> models, params string[] extra)
    {
        if (!File.Exists(Assembly))
        {
            throw new FileNotFoundException($"the silo is not built at {Assembly}; build silo/MInference.Silo in the same configuration", Assembly);
        }

        var arguments = new List<string>
        {
            Assembly,
            "--MInference:SiloName=" + Name,
            "--MInference:Clustering=Redis",
            "--MInference:RedisConnectionString=" + redis,
            "--MInference:AdvertisedAddress=127.0.0.1",
            "--MInference:ClusterId=" + clusterId,
            "--MInference:ServiceId=" + clusterId,
            string.Create(CultureInfo.InvariantCulture, $"--MInference:SiloPort={SiloPort}"),
            string.Create(CultureInfo.InvariantCulture, $"--MInference:GatewayPort={GatewayPort}"),
            "--MInference:ForceCpu=true",
            "--MInference:CpuDevices=1",
            "--MInference:CpuThreadsPerDevice=1",
            "--MInference:DrainTimeout=00:00:02",
        };
        arguments.AddRange(models.Select(m => $"--MInference:Models:{m.Key}={m.Value}"));
        arguments.AddRange(extra);
        return ChildProcess.Start("silo " + Name, "dotnet", arguments, DeviceRegistrar.ReadyMarker);
    }
}
