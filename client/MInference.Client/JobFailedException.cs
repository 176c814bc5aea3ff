using MInference.Shared.Contracts;

namespace MInference.Client;

/// <summary>A job ended failed or cancelled (or never existed) when a result was asked for.</summary>
public sealed class JobFailedException : Exception
{
    public JobFailedException()
    {
    }

    public JobFailedException(string message)
        : base(message)
    {
    }

    public JobFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public JobFailedException(string jobId, JobState state, string message)
        : base(message)
    {
        JobId = jobId;
        State = state;
    }

    public string? JobId { get; }

    public JobState State { get; }
}
