namespace MInference.Silo.Hosting;

/// <summary>How silos find each other and where the cluster keeps jobs and reminders.</summary>
public enum ClusteringMode
{
    /// <summary>Development and the embedded mode: loopback endpoints, a primary silo, jobs and reminders in memory.</summary>
    Localhost = 0,

    /// <summary>Deployments: membership, job storage and reminders in Redis (<c>MInference:RedisConnectionString</c>).</summary>
    Redis = 1,
}
