namespace MInference.Shared.Contracts;

/// <summary>A job id was submitted again with a different document or options.</summary>
[GenerateSerializer, Alias("minference.job-conflict")]
public sealed class JobConflictException : Exception
{
    public JobConflictException()
    {
    }

    public JobConflictException(string message)
        : base(message)
    {
    }

    public JobConflictException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
