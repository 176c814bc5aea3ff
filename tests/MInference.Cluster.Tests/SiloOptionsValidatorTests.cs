using MInference.Silo.Hosting;

namespace MInference.Cluster.Tests;

public sealed class SiloOptionsValidatorTests
{
    /// <summary>Each bad setting is reported with its full name and value; good defaults pass.</summary>
    [Fact]
    public void Bad_settings_are_named()
    {
        var validator = new MInferenceSiloOptionsValidator();
        var options = new MInferenceSiloOptions { SiloName = "a/b", SiloPort = 0, CpuDevices = 0, CpuDeviceMemoryBytes = 5, MaxDocumentTokens = 0 };

        var result = validator.Validate(null, options);

        Assert.True(validator.Validate(null, new MInferenceSiloOptions()).Succeeded);
        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Equal(5, failures.Count);
        Assert.Contains(failures, f => f.Contains("MInference:SiloName 'a/b'", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MInference:SiloPort is 0", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MInference:CpuDevices is 0", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MInference:CpuDeviceMemoryBytes is 5", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MInference:MaxDocumentTokens is 0", StringComparison.Ordinal));
    }
}
