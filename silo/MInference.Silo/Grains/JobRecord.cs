using MInference.Shared.Contracts;

namespace MInference.Silo.Grains;

/// <summary>
/// A job's document as persisted: the submission with its token ids and what was fixed from it. Written
/// once, at submission; progress lives in <see cref="JobProgressRecord"/> so that a chunk's write does not
/// carry a million token ids again.
/// </summary>
[GenerateSerializer, Alias("minference.job-record")]
public sealed class JobRecord
{
    [Id(0)] public JobSubmission? Submission { get; set; }

    [Id(1)] public string DocumentHash { get; set; } = string.Empty;

    [Id(10)] public DateTimeOffset SubmittedAt { get; set; }

    /// <summary>Lengths of the document's chunks, fixed at submission (every run cuts the same chunks).</summary>
    [Id(13)] public int[]? ChunkLengths { get; set; }

    /// <summary>The pattern config JSON the stages run with (the job's own or the model's at submission); null: dense.</summary>
    [Id(14)] public string? Patterns { get; set; }
}
