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

    /// <summary>Default of <see cref="JobProgressTimeout"/>: far beyond one chunk of a large model on a CPU device.</summary>
    public static readonly TimeSpan DefaultJobProgressTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Default of <see cref="WatchdogPeriod"/> (Orleans' own minimum reminder period).</summary>
    public static readonly TimeSpan DefaultWatchdogPeriod = TimeSpan.FromMinutes(1);

    /// <summary>Shortest <see cref="WatchdogPeriod"/> and non-zero <see cref="JobProgressTimeout"/>: reminders are not timers.</summary>
    public static readonly TimeSpan MinWatchdogTime = TimeSpan.FromSeconds(1);

    /// <summary>Longest <see cref="WatchdogPeriod"/> and <see cref="JobProgressTimeout"/>.</summary>
    public static readonly TimeSpan MaxWatchdogTime = TimeSpan.FromDays(1);

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

    /// <summary>
    /// A running job whose attempt made no progress (no chunk left the pipeline, no state change) for this
    /// long is stopped by its watchdog reminder and restarted as a retry, or failed after
    /// <see cref="MaxJobAttempts"/>. <see cref="TimeSpan.Zero"/> turns the watchdog off. Default
    /// <see cref="DefaultJobProgressTimeout"/>; otherwise between <see cref="MinWatchdogTime"/> and <see cref="MaxWatchdogTime"/>.
    /// </summary>
    public TimeSpan JobProgressTimeout { get; set; } = DefaultJobProgressTimeout;

    /// <summary>
    /// How often a running job's watchdog reminder fires (so a stall is noticed between
    /// <see cref="JobProgressTimeout"/> and that plus this period). Default <see cref="DefaultWatchdogPeriod"/>;
    /// between <see cref="MinWatchdogTime"/> and <see cref="MaxWatchdogTime"/>. Orleans' minimum reminder
    /// period is lowered to it when it is shorter.
    /// </summary>
    public TimeSpan WatchdogPeriod { get; set; } = DefaultWatchdogPeriod;

    /// <summary>
    /// A loaded layer shard that no job has used for this long is unloaded (its weights freed), so a silo
    /// that served several models or pattern configs does not keep them all. <see cref="TimeSpan.Zero"/>
    /// keeps idle shards (those of unregistered models are unloaded anyway). Default
    /// <see cref="DefaultShardIdleTimeout"/>; otherwise between <see cref="MinWatchdogTime"/> and <see cref="MaxWatchdogTime"/>.
    /// </summary>
    public TimeSpan ShardIdleTimeout { get; set; } = DefaultShardIdleTimeout;

    /// <summary>
    /// How often each stage looks for shards to unload: idle ones and those of models no longer
    /// registered with the coordinator. Default <see cref="DefaultShardSweepPeriod"/>; between
    /// <see cref="MinWatchdogTime"/> and <see cref="MaxWatchdogTime"/>.
    /// </summary>
    public TimeSpan ShardSweepPeriod { get; set; } = DefaultShardSweepPeriod;

    public static readonly TimeSpan DefaultShardIdleTimeout = TimeSpan.FromMinutes(30);

    public static readonly TimeSpan DefaultShardSweepPeriod = TimeSpan.FromMinutes(1);
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
        if (options.JobProgressTimeout != TimeSpan.Zero)
        {
            Check(failures, nameof(options.JobProgressTimeout), options.JobProgressTimeout, " (or 00:00:00 to turn the watchdog off)");
        }

        Check(failures, nameof(options.WatchdogPeriod), options.WatchdogPeriod, string.Empty);
        if (options.ShardIdleTimeout != TimeSpan.Zero)
        {
            Check(failures, nameof(options.ShardIdleTimeout), options.ShardIdleTimeout, " (or 00:00:00 to keep idle shards)");
        }

        Check(failures, nameof(options.ShardSweepPeriod), options.ShardSweepPeriod, string.Empty);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Check(List<string> failures, string setting, int value)
    {
        if (value is < 1 or > MaxSetting)
        {
            failures.Add($"{ClusterExecutionOptions.SectionName}:{setting} is {value}; it must be between 1 and {MaxSetting}");
        }
    }

    private static void Check(List<string> failures, string setting, TimeSpan value, string alternative)
    {
        if (value < ClusterExecutionOptions.MinWatchdogTime || value > ClusterExecutionOptions.MaxWatchdogTime)
        {
            failures.Add(
                $"{ClusterExecutionOptions.SectionName}:{setting} is {value:c}; it must be between {ClusterExecutionOptions.MinWatchdogTime:c} and {ClusterExecutionOptions.MaxWatchdogTime:c}{alternative}");
        }
    }
}
