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

    /// <summary>Orleans' own default cluster id: what a client that configures none (the CLI's gateway client) presents.</summary>
    public const string DefaultClusterId = "default";

    /// <summary>Orleans' own default service id: what a client that configures none (the CLI's gateway client) presents.</summary>
    public const string DefaultServiceId = "default";

    public const int DefaultDashboardPort = 8080;

    public const string DefaultDashboardListenAddress = "127.0.0.1";

    /// <summary>Default of <see cref="DrainTimeout"/>: long enough for a few chunks of a large model to finish.</summary>
    public static readonly TimeSpan DefaultDrainTimeout = TimeSpan.FromSeconds(30);

    /// <summary>This silo's name, the first half of its stage keys. Default: <c>silo-{machine}</c>.</summary>
    public string SiloName { get; set; } = "silo-" + Environment.MachineName;

    /// <summary>Silo-to-silo port (both clustering modes). Default <see cref="DefaultSiloPort"/>.</summary>
    public int SiloPort { get; set; } = DefaultSiloPort;

    /// <summary>Client gateway port (both clustering modes). Default <see cref="DefaultGatewayPort"/>.</summary>
    public int GatewayPort { get; set; } = DefaultGatewayPort;

    /// <summary>Silo port of the primary silo to join under localhost clustering (ignored with Redis); 0 makes this silo the primary. Default 0.</summary>
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

    /// <summary>How silos find each other and where jobs and reminders live. Default <see cref="ClusteringMode.Localhost"/>.</summary>
    public ClusteringMode Clustering { get; set; } = ClusteringMode.Localhost;

    /// <summary>StackExchange.Redis configuration string (<c>host:port[,password=...]</c>); required when <see cref="Clustering"/> is Redis.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>Orleans cluster id: silos and clients with the same id form one cluster. Default <see cref="DefaultClusterId"/>.</summary>
    public string ClusterId { get; set; } = DefaultClusterId;

    /// <summary>Orleans service id: keys persisted state, so it must stay the same across upgrades. Default <see cref="DefaultServiceId"/>.</summary>
    public string ServiceId { get; set; } = DefaultServiceId;

    /// <summary>
    /// IP address or host name other silos and clients reach this silo at (Redis mode). Default: this
    /// machine's host name resolved to IPv4; set <c>127.0.0.1</c> for a cluster on one machine.
    /// </summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>
    /// Orleans' Kubernetes hosting: silo name, endpoints and cluster ids from the pod, and pods of dead
    /// silos deleted. Needs the pod environment of deploy/k8s. Default false.
    /// </summary>
    public bool KubernetesHosting { get; set; }

    /// <summary>Offer CPU devices even when a CUDA device is present. Default false.</summary>
    public bool ForceCpu { get; set; }

    /// <summary>
    /// On shutdown, how long the silo waits for jobs running on its devices after it has stopped
    /// accepting new ones; what is still running then is logged and left to the jobs' re-plan.
    /// Default <see cref="DefaultDrainTimeout"/> (30 s).
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = DefaultDrainTimeout;

    /// <summary>Serve Microsoft.Orleans.Dashboard over HTTP. Default false.</summary>
    public bool DashboardEnabled { get; set; }

    /// <summary>HTTP port of the dashboard. Default <see cref="DefaultDashboardPort"/>.</summary>
    public int DashboardPort { get; set; } = DefaultDashboardPort;

    /// <summary>
    /// Address the dashboard listens on. Default <see cref="DefaultDashboardListenAddress"/> (loopback:
    /// the dashboard has no authentication); <c>0.0.0.0</c> in containers behind a private network.
    /// </summary>
    public string DashboardListenAddress { get; set; } = DefaultDashboardListenAddress;

    /// <summary>
    /// OTLP collector to export metrics (meters <c>MInference</c>, <c>Microsoft.Orleans</c>) and traces to,
    /// e.g. <c>http://otel-collector:4317</c>. Default: none (no export).
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Models registered with the coordinator when the silo starts: id -> model directory.</summary>
    public Dictionary<string, string> Models { get; } = new(StringComparer.Ordinal);
}
