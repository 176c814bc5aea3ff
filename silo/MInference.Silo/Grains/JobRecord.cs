using MInference.Shared.Contracts;

namespace MInference.Silo.Grains;

/// <summary>A job's persisted state.</summary>
[GenerateSerializer, Alias("minference.job-record")]
public sealed class JobRecord
{
    [Id(0)] public JobSubmission? Submission { get; set; }

    [Id(1)] public string DocumentHash { get; set; } = string.Empty;

    [Id(2)] public JobState State { get; set; }

    [Id(3)] public long Version { get; set; }

    [Id(4)] public long ProcessedTokens { get; set; }

    [Id(5)] public int ChunksDone { get; set; }

    [Id(6)] public int ChunkCount { get; set; }

    [Id(7)] public string? Error { get; set; }

    [Id(8)] public PipelinePlan? Plan { get; set; }

    [Id(9)] public JobResult? Result { get; set; }

    [Id(10)] public DateTimeOffset SubmittedAt { get; set; }

    [Id(11)] public int Attempts { get; set; }

    /// <summary>Why the last restart happened (the stage or transfer that failed).</summary>
    [Id(12)] public string? RetryReason { get; set; }

    /// <summary>Lengths of the document's chunks, fixed at submission (every run cuts the same chunks).</summary>
    [Id(13)] public int[]? ChunkLengths { get; set; }

    /// <summary>The pattern config JSON the stages run with (the job's own or the model's at submission); null: dense.</summary>
    [Id(14)] public string? Patterns { get; set; }
}
