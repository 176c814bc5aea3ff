namespace MInference.Shared.Patterns;

/// <summary>
/// A pattern config is malformed or does not fit the model. The message names the file, the layer
/// and head (when one is involved), the bad value and what was expected.
/// </summary>
public sealed class PatternConfigException : Exception
{
    public PatternConfigException(string message)
        : base(message)
    {
    }

    public PatternConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
