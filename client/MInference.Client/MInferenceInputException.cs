namespace MInference.Client;

/// <summary>
/// The cluster refused a submission or request as bad input (empty or oversized document, unknown model,
/// malformed pattern config, bad options); the message names the problem. Retrying the same input fails again.
/// </summary>
public sealed class MInferenceInputException : ArgumentException
{
    public MInferenceInputException()
    {
    }

    public MInferenceInputException(string message)
        : base(message)
    {
    }

    public MInferenceInputException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
