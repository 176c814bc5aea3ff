namespace MInference.Client;

/// <summary>
/// The cluster could not be reached or did not answer (no gateway, a silo went away mid-call, a call timed
/// out). Unlike <see cref="MInferenceInputException"/>, trying again later can succeed; submissions are
/// idempotent by job id, so resubmitting is safe.
/// </summary>
public sealed class ClusterUnavailableException : Exception
{
    public ClusterUnavailableException()
    {
    }

    public ClusterUnavailableException(string message)
        : base(message)
    {
    }

    public ClusterUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
