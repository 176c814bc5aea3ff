using Microsoft.Extensions.Logging;

namespace MInference.Kernels.Cuda;

/// <summary>Log events of <see cref="ComputeBackendFactory"/>.</summary>
public static partial class ComputeBackendFactory
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "compute backend {Backend}: {Reason}")]
    private static partial void LogChose(ILogger logger, string backend, string reason);
}
