namespace MInference.Silo.DataPlane;

/// <summary>
/// A ticket could not be redeemed; <see cref="IsRetryable"/> says whether trying again can help. Serializable,
/// so the job grain that called the stage sees the type and re-plans instead of failing blindly.
/// </summary>
[GenerateSerializer, Alias("minference.transfer-failed")]
public sealed class TransferFailedException : Exception
{
    public TransferFailedException()
    {
    }

    public TransferFailedException(string message)
        : base(message)
    {
    }

    public TransferFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public TransferFailedException(string message, bool isRetryable, Exception? innerException = null)
        : base(message, innerException)
    {
        IsRetryable = isRetryable;
    }

    [Id(0)]
    public bool IsRetryable { get; init; }
}
