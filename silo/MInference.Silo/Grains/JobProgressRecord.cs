using MInference.Shared.Contracts;

namespace MInference.Silo.Grains;

/// <summary>A job's persisted progress: small, written on every change (each chunk, each attempt, the outcome).</summary>
[GenerateSerializer, Alias("minference.job-progress-record")]
public sealed class JobProgressRecord
{
    [Id(0)] public JobState State { get; set; }

    [Id(1)] public long Version { get; set; }

    [Id(2)] public long ProcessedTokens { get; set; }

    [Id(3)] public int ChunksDone { get; set; }

    [Id(4)] public int ChunkCount { get; set; }

    [Id(5)] public string? Error { get; set; }

    [Id(6)] public PipelinePlan? Plan { get; set; }

    [Id(7)] public JobResult? Result { get; set; }

    [Id(8)] public int Attempts { get; set; }

    /// <summary>Why the last restart happened (the stage or transfer that failed).</summary>
    [Id(9)] public string? RetryReason { get; set; }

    /// <summary>The completed job's stages (<see cref="Plan"/>) still hold its KV caches and its replica hold stays (<see cref="KvRetention.Keep"/>).</summary>
    [Id(10)] public bool KvRetained { get; set; }
}
