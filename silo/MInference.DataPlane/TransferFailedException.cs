namespace MInference.DataPlane;

/// <summary>
/// A ticket could not be redeemed over the data plane. <see cref="IsRetryable"/> says whether trying again
/// can help: transient failures (connection refused or dropped, checksum mismatch, timeout) leave the payload
/// parked on the producer until a fetch is acknowledged.
/// </summary>
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

    public bool IsRetryable { get; }
}
