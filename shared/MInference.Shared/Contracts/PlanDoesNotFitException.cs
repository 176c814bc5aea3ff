namespace MInference.Shared.Contracts;

/// <summary>The registered devices cannot hold the model's weights plus KV caches for the requested length.</summary>
[GenerateSerializer, Alias("minference.plan-does-not-fit")]
public sealed class PlanDoesNotFitException : Exception
{
    public PlanDoesNotFitException()
    {
    }

    public PlanDoesNotFitException(string message)
        : base(message)
    {
    }

    public PlanDoesNotFitException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public PlanDoesNotFitException(string message, long requiredBytes, long availableBytes)
        : base(message)
    {
        RequiredBytes = requiredBytes;
        AvailableBytes = availableBytes;
    }

    /// <summary>Bytes the plan needed where it failed (one layer, or the whole model).</summary>
    [Id(0)]
    public long RequiredBytes { get; init; }

    /// <summary>Bytes the devices offered there.</summary>
    [Id(1)]
    public long AvailableBytes { get; init; }
}
