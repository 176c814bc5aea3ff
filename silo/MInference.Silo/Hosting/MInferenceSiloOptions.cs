namespace MInference.Silo.Hosting;

/// <summary>Settings of a MInference silo, section <c>MInference</c> (appsettings, MINFERENCE__* environment, --MInference:Name=value).</summary>
public sealed class MInferenceSiloOptions
{
    public const string SectionName = "MInference";

    public const int DefaultCpuDevices = 1;

    public const long DefaultCpuDeviceMemoryBytes = 8L << 30;

    public const long DefaultMaxDocumentTokens = 1L << 20;

    public const int DefaultMaxChunkTokens = 65536;

    public const int DefaultSiloPort = 11111;

    public const int DefaultGatewayPort = 30000;

    /// <summary>This silo's name, the first half of its stage keys. Default: <c>silo-{machine}</c>.</summary>
    public string SiloName { get; set; } = "silo-" + Environment.MachineName;

    /// <summary>Silo-to-silo port for localhost clustering. Default <see cref="DefaultSiloPort"/>.</summary>
    public int SiloPort { get; set; } = DefaultSiloPort;

    /// <summary>Client gateway port for localhost clustering. Default <see cref="DefaultGatewayPort"/>.</summary>
    public int GatewayPort { get; set; } = DefaultGatewayPort;

    /// <summary>Silo port of the primary silo to join under localhost clustering; 0 makes this silo the primary. Default 0.</summary>
    public int PrimarySiloPort { get; set; }

    /// <summary>CPU "devices" offered when no GPU is discovered. Default <see cref="DefaultCpuDevices"/>.</summary>
    public int CpuDevices { get; set; } = DefaultCpuDevices;

    /// <summary>Memory budget of each CPU device for planning. Default <see cref="DefaultCpuDeviceMemoryBytes"/> (8 GiB).</summary>
    public long CpuDeviceMemoryBytes { get; set; } = DefaultCpuDeviceMemoryBytes;

    /// <summary>Worker threads of each CPU device's backend. Default: the processor count.</summary>
    public int CpuThreadsPerDevice { get; set; } = Environment.ProcessorCount;

    /// <summary>Longest document a job accepts. Default <see cref="DefaultMaxDocumentTokens"/>.</summary>
    public long MaxDocumentTokens { get; set; } = DefaultMaxDocumentTokens;

    /// <summary>Largest chunk a job may ask for. Default <see cref="DefaultMaxChunkTokens"/>.</summary>
    public int MaxChunkTokens { get; set; } = DefaultMaxChunkTokens;

    /// <summary>Models registered with the coordinator when the silo starts: id -> model directory.</summary>
    public Dictionary<string, string> Models { get; } = new(StringComparer.Ordinal);
}
