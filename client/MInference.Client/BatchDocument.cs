using MInference.Shared.Contracts;

namespace MInference.Client;

/// <summary>One document of a batch: the job id to run it under and what to submit.</summary>
public sealed record BatchDocument(string JobId, JobSubmission Submission);

/// <summary>
/// How one document of a batch ended: its result, or the error that stopped it (bad input, a failed or
/// cancelled job, an unreachable cluster). One document's failure never stops the others.
/// </summary>
public sealed record BatchDocumentResult(string JobId, JobResult? Result, Exception? Error)
{
    public bool Succeeded => Error is null;
}
