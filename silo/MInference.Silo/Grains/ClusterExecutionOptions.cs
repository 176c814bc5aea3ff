using Microsoft.Extensions.Options;

namespace MInference.Silo.Grains;

/// <summary>How jobs and stages run, section <c>MInference:Execution</c>.</summary>
public sealed class ClusterExecutionOptions
{
    public const string SectionName = "MInference:Execution";

    public const int DefaultMaxQueuedChunksPerStage = 4;

    public const int DefaultPipelineWindowChunks = 4;

    public const int DefaultMaxJobAttempts = 3;

    public const int DefaultTransferAttempts = 3;

    /// <summary>
    /// Chunks one stage admits at once (running or waiting for its device); further callers wait for room,
    /// they do not fail. Default <see cref="DefaultMaxQueuedChunksPerStage"/>.
    /// </summary>
    public int MaxQueuedChunksPerStage { get; set; } = DefaultMaxQueuedChunksPerStage;

    /// <summary>
    /// Chunks of one job in flight through its pipeline: chunk c enters stage 0 only once chunk
    /// c - window has left the last stage. 1 runs chunk by chunk without overlap.
    /// Default <see cref="DefaultPipelineWindowChunks"/>.
    /// </summary>
    public int PipelineWindowChunks { get; set; } = DefaultPipelineWindowChunks;

    /// <summary>Runs of a document before its job fails (a lost stage or failed transfer re-plans and restarts it). Default <see cref="DefaultMaxJobAttempts"/>.</summary>
    public int MaxJobAttempts { get; set; } = DefaultMaxJobAttempts;

    /// <summary>Tries of one data-plane fetch whose failure is retryable (the payload stays parked meanwhile). Default <see cref="DefaultTransferAttempts"/>.</summary>
    public int TransferAttempts { get; set; } = DefaultTransferAttempts;
}

/// <summary>Names each bad execution setting and its limit.</summary>
internal sealed class ClusterExecutionOptionsValidator : IValidateOptions<ClusterExecutionOptions>
{
    private const int MaxSetting = 1024;

    public ValidateOptionsResult Validate(string? name, ClusterExecutionOptions options)
    {
        var failures = new List<string>();
        Check(failures, nameof(options.MaxQueuedChunksPerStage), options.MaxQueuedChunksPerStage);
        Check(failures, nameof(options.PipelineWindowChunks), options.PipelineWindowChunks);
        Check(failures, nameof(options.MaxJobAttempts), options.MaxJobAttempts);
        Check(failures, nameof(options.TransferAttempts), options.TransferAttempts);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Check(List<string> failures, string setting, int value)
    {
        if (value is < 1 or > MaxSetting)
        {
            failures.Add($"{ClusterExecutionOptions.SectionName}:{setting} is {value}; it must be between 1 and {MaxSetting}");
        }
    }
}
