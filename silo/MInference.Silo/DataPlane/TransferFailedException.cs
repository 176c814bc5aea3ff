namespace MInference.Silo.DataPlane;

/// <summary>A ticket could not be redeemed; <see cref="IsRetryable"/> says whether trying again can help.</summary>
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

    public TransferFailedException(string message, bool isRetryable)
        : base(message)
    {
        IsRetryable = isRetryable;
    }

    public bool IsRetryable { get; }
}
