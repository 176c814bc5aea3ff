using Microsoft.Extensions.Options;

namespace MInference.Silo.Hosting;

/// <summary>Stops the silo at start with messages that name each bad setting and its limit.</summary>
internal sealed class MInferenceSiloOptionsValidator : IValidateOptions<MInferenceSiloOptions>
{
    private const int MaxCpuDevices = 256;

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

        foreach (var (id, directory) in options.Models)
        {
            if (!Directory.Exists(directory))
            {
                failures.Add($"{s}:Models:{id} names '{directory}', which is not a directory");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void CheckPort(List<string> failures, string setting, int port)
    {
        if (port is < 1 or > 65535)
        {
            failures.Add($"{setting} is {port}; it must be between 1 and 65535");
        }
    }
}
