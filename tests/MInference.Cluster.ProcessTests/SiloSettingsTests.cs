using System.Globalization;
using Microsoft.Extensions.Configuration;
using MInference.Shared.Networking;
using MInference.Silo.Hosting;

namespace MInference.Cluster.ProcessTests;

public sealed class SiloSettingsTests
{
    /// <summary>Environment-style keys, command-line keys and appsettings all bind; command line wins (last source).</summary>
    [Fact]
    public void Settings_bind_from_every_source_with_the_command_line_last()
    {
        var json = Path.Combine(Path.GetTempPath(), "minference-settings-" + Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(json, """{ "MInference": { "Clustering": "Redis", "RedisConnectionString": "redis:6379", "CpuDevices": 3, "DrainTimeout": "00:00:45" } }""");
        try
        {
            var configuration = new ConfigurationBuilder()
                .AddJsonFile(json)
                .AddInMemoryCollection(new Dictionary<string, string?> { ["MInference:DashboardEnabled"] = "true", ["MInference:CpuDevices"] = "4" })
                .AddCommandLine(["--MInference:CpuDevices=5", "--MInference:ForceCpu=true"])
                .Build();

            var ok = SiloSettingsLoader.TryLoad(configuration, out var settings, out var failures);

            Assert.True(ok, string.Join("; ", failures));
            Assert.Equal(ClusteringMode.Redis, settings.Clustering);
            Assert.Equal("redis:6379", settings.RedisConnectionString);
            Assert.Equal(5, settings.CpuDevices);
            Assert.True(settings.ForceCpu);
            Assert.True(settings.DashboardEnabled);
            Assert.Equal(TimeSpan.FromSeconds(45), settings.DrainTimeout);
        }
        finally
        {
            File.Delete(json);
        }
    }

    /// <summary>Each bad deployment setting (and a value that does not convert) is refused with its full name.</summary>
    [Theory]
    [InlineData("Clustering", "Bogus", "'MInference:Clustering'")]
    [InlineData("Clustering", "Redis", "MInference:RedisConnectionString is empty")]
    [InlineData("RedisConnectionString", "host:1,nonsense=2", "MInference:RedisConnectionString 'host:1,nonsense=2' does not parse")]
    [InlineData("DrainTimeout", "01:00:00", "MInference:DrainTimeout is 01:00:00")]
    [InlineData("ClusterId", "a b", "MInference:ClusterId 'a b'")]
    [InlineData("KubernetesHosting", "true", "MInference:KubernetesHosting needs Clustering=Redis")]
    [InlineData("GatewayPort", "11111", "MInference:SiloPort and MInference:GatewayPort are both 11111")]
    [InlineData("DashboardListenAddress", "everywhere", "MInference:DashboardListenAddress 'everywhere'")]
    [InlineData("OtlpEndpoint", "collector:4317", "MInference:OtlpEndpoint 'collector:4317'")]
    public void Bad_setting_is_named(string key, string value, string expected)
    {
        var values = new Dictionary<string, string?> { ["MInference:" + key] = value, ["MInference:DashboardEnabled"] = "true" };
        if (key == "RedisConnectionString")
        {
            values["MInference:Clustering"] = "Redis";
        }

        var ok = SiloSettingsLoader.TryLoad(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), out _, out var failures);

        Assert.False(ok);
        Assert.Contains(failures, f => f.Contains(expected, StringComparison.Ordinal));
    }

    /// <summary>The silo process itself refuses a bad setting before Orleans starts: exit code 2 and the setting on stderr.</summary>
    [Fact]
    public async Task Silo_process_exits_with_the_bad_setting_named()
    {
        var ct = TestContext.Current.CancellationToken;
        var port = LoopbackPorts.TakeFree(1)[0];
        await using var silo = ChildProcess.Start(
            "silo with bad settings",
            "dotnet",
            [SiloProcess.Assembly, "--MInference:Clustering=Redis", string.Create(CultureInfo.InvariantCulture, $"--MInference:SiloPort={port}"), "--MInference:CpuDevices=0"],
            readyMarker: DeviceRegistrar.ReadyMarker);

        await silo.WaitForExitAsync(ct);

        Assert.Equal(2, silo.ExitCode);
        Assert.Contains("MInference:RedisConnectionString is empty", silo.Output, StringComparison.Ordinal);
        Assert.Contains("MInference:CpuDevices is 0", silo.Output, StringComparison.Ordinal);
    }
}
