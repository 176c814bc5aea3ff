namespace MInference.Shared.Models;

/// <summary>
/// A model directory or file is malformed. The message names the file, the tensor (when one is
/// involved) and the problem, so a user can fix the input without a debugger.
/// </summary>
public sealed class ModelFormatException : Exception
{
    public ModelFormatException(string message)
        : base(message)
    {
    }

    public ModelFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ModelFormatException(string filePath, string? tensorName, string problem, Exception? innerException = null)
        : base(Format(filePath, tensorName, problem), innerException)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    public string? FilePath { get; }

    public string? TensorName { get; }

    private static string Format(string filePath, string? tensorName, string problem)
        => tensorName is null
            ? $"{filePath}: {problem}"
            : $"{filePath}: tensor '{tensorName}': {problem}";
}
