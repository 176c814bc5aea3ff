using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MInference.Shared.Contracts;
using MInference.Shared.Models;
using MInference.Shared.Patterns;
using MInference.Silo.DataPlane;
using MInference.Silo.Diagnostics;
using MInference.Silo.Hosting;

namespace MInference.Silo.Grains;

/// <summary>
/// One document: queued -> running -> completed | failed | cancelled. The work runs as a background
/// loop on the grain's scheduler (each stage call is short: one chunk), so progress queries, watchers
/// and cancellation interleave with it. Chunks are pipelined: stage s runs chunk c while stage s-1 runs
/// chunk c+1, each stage taking its chunks in order, with at most
/// <see cref="ClusterExecutionOptions.PipelineWindowChunks"/> chunks in flight. A lost stage or failed
/// transfer re-plans around the suspect silo and restarts the document (up to
/// <see cref="ClusterExecutionOptions.MaxJobAttempts"/> runs); a job found queued or running on activation
/// (its silo went away) is restarted too. While it runs, a reminder (<see cref="WatchdogReminderName"/>,
/// durable in Redis in deployments) is its watchdog: it wakes the job on another silo when its own went
/// away, and restarts an attempt that made no progress for <see cref="ClusterExecutionOptions.JobProgressTimeout"/>
/// (a retry; after the last attempt the job fails saying so). The reminder goes when the job ends.
/// </summary>
internal sealed partial class JobGrain(
    [PersistentState(JobGrain.DocumentStateName, MInferenceSiloBuilderExtensions.JobStorageName)] IPersistentState<JobRecord> document,
    [PersistentState(JobGrain.ProgressStateName, MInferenceSiloBuilderExtensions.JobStorageName)] IPersistentState<JobProgressRecord> progress,
    IOptions<MInferenceSiloOptions> options,
    IOptions<ClusterExecutionOptions> execution,
    IJobChunkGate gate,
    ModelTokenizers tokenizers,
    TimeProvider time,
    ILogger<JobGrain> logger) : Grain, IJobGrain, IRemindable, IDisposable
{
    /// <summary>Name of the watchdog reminder a job holds while it is queued or running.</summary>
    public const string WatchdogReminderName = "watchdog";

    /// <summary>Persistent state of the job's document (<see cref="JobRecord"/>), written once at submission.</summary>
    public const string DocumentStateName = "job";

    /// <summary>Persistent state of the job's progress (<see cref="JobProgressRecord"/>), written on every change.</summary>
    public const string ProgressStateName = "progress";

    private const int MaxWaitSeconds = 20;

    private readonly ILogger _logger = logger;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _cancel;

    /// <summary>The current attempt's token source (linked to <see cref="_cancel"/>); the watchdog cancels it alone.</summary>
    private CancellationTokenSource? _attempt;

    /// <summary>Set by the watchdog before it cancels <see cref="_attempt"/>: the attempt stalled.</summary>
    private bool _stalled;

    /// <summary>When this activation last saw the job move (<see cref="TimeProvider.GetTimestamp"/>).</summary>
    private long _lastProgress;

    /// <summary>Set when this activation goes away (its silo stops): the run stops without recording an outcome, so the next activation resumes it.</summary>
    private bool _deactivated;

    private JobProgressRecord State => progress.State;

    private JobRecord Document => document.State;

    private string JobId => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (State.State is JobState.Queued or JobState.Running)
        {
            LogResumed(JobId, State.State);
            if (State.Attempts > 0)
            {
                State.RetryReason = $"attempt {State.Attempts} was interrupted: the job's activation moved (its silo stopped or it was collected)";
            }

            MInferenceMetrics.JobMoved(JobState.Unknown, State.State);
            StartRun();
        }

        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (!IsFinal && _cancel is not null)
        {
            _deactivated = true;
            LogDeactivatedWhileRunning(JobId, reason.Description);
            _cancel.Cancel();
        }

        return Task.CompletedTask;
    }

    public async Task<JobProgress> SubmitAsync(JobSubmission submission)
    {
        ArgumentNullException.ThrowIfNull(submission);
        if (submission.Text is not null)
        {
            submission = await TokenizeAsync(submission);
        }

        var hash = Hash(submission);
        if (State.State != JobState.Unknown)
        {
            if (!string.Equals(hash, Document.DocumentHash, StringComparison.Ordinal))
            {
                throw new JobConflictException($"job '{JobId}' was already submitted with a different document or options");
            }

            return Progress();
        }

        Validate(submission);
        var model = await ValidateAgainstRegistryAsync(submission);
        var patterns = submission.PatternConfig switch
        {
            null => await GrainFactory.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey).GetPatternConfigAsync(submission.ModelId),
            JobSubmission.DensePatternConfig => null,
            var json => json,
        };
        int[] lengths;
        try
        {
            lengths = submission.DynamicChunks
                ? ChunkSchedule.Balanced(
                    ModelConfigReader.ReadDirectory(model.Directory),
                    patterns is null ? null : PatternConfigJson.Parse(patterns, "the job's pattern config"),
                    submission.TokenIds.Length,
                    submission.ChunkTokens,
                    options.Value.MaxChunkTokens)
                : ChunkSchedule.Fixed(submission.TokenIds.Length, submission.ChunkTokens);
        }
        catch (PatternConfigException e)
        {
            throw new ArgumentException($"PatternConfig does not fit model '{model.ModelId}': {e.Message}", nameof(submission));
        }
        if (submission.DynamicChunks && _logger.IsEnabled(LogLevel.Information))
        {
            var sizes = string.Join(", ", lengths);
            LogChunkSizes(JobId, lengths.Length, sizes);
        }

        Document.Submission = submission;
        Document.DocumentHash = hash;
        Document.ChunkLengths = lengths;
        Document.Patterns = patterns;
        Document.SubmittedAt = DateTimeOffset.UtcNow;
        // The document first: progress that says queued must find its tokens on any later activation.
        await document.WriteStateAsync();
        State.State = JobState.Queued;
        State.ChunkCount = lengths.Length;
        MInferenceMetrics.JobMoved(JobState.Unknown, JobState.Queued);
        await ChangedAsync();
        LogSubmitted(JobId, submission.ModelId, submission.TokenIds.Length, State.ChunkCount);
        StartRun();
        return Progress();
    }

    public Task<JobProgress> GetProgressAsync() => Task.FromResult(Progress());

    public async Task<JobProgress> WaitForChangeAsync(long knownVersion, TimeSpan maxWait)
    {
        if (State.Version <= knownVersion && !IsFinal)
        {
            var wait = maxWait <= TimeSpan.Zero || maxWait > TimeSpan.FromSeconds(MaxWaitSeconds) ? TimeSpan.FromSeconds(MaxWaitSeconds) : maxWait;
            await Task.WhenAny(_changed.Task, Task.Delay(wait));
        }

        return Progress();
    }

    public Task<JobResult?> GetResultAsync() => Task.FromResult(State.Result);

    public void Dispose() => _cancel?.Dispose();

    public async Task<JobProgress> CancelAsync()
    {
        if (!IsFinal && _cancel is { IsCancellationRequested: false })
        {
            LogCancelRequested(JobId);
            _cancel.Cancel();
        }
        else if (IsFinal && State.KvRetained)
        {
            // Cancelling a completed job cannot undo it; what it still holds is its kept KV.
            return await ReleaseKvAsync();
        }

        return Progress();
    }

    public async Task<JobProgress> ReleaseKvAsync()
    {
        if (IsFinal && State.KvRetained)
        {
            State.KvRetained = false;
            await ReleaseKvAndPlanAsync();
            await ChangedAsync();
            LogKvReleased(JobId);
        }

        return Progress();
    }

    /// <summary>
    /// Has every stage write its layers' KV caches to the submission's export directory; the files in layer
    /// order. A failure fails the job (not retried: a directory that cannot be written stays so).
    /// </summary>
    private async Task<IReadOnlyList<string>> ExportKvAsync(PipelinePlan plan)
    {
        var directory = Document.Submission!.KvExportDirectory!;
        var files = await Task.WhenAll(plan.Stages.Select(s => GrainFactory.GetGrain<IStageGrain>(s.StageKey).ExportJobAsync(JobId, directory)));
        IReadOnlyList<string> all = [.. files.SelectMany(f => f)];
        LogKvExported(JobId, all.Count, directory);
        return all;
    }

    /// <summary>Frees the job's KV caches on its plan's stages and its replica hold at the coordinator.</summary>
    private async Task ReleaseKvAndPlanAsync()
    {
        if (State.Plan is { } last)
        {
            await ReleaseStagesAsync(last);
        }

        try
        {
            await GrainFactory.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey).ReleasePlanAsync(JobId);
        }
#pragma warning disable CA1031 // A lost coordinator has no hold left to free.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private bool IsFinal => State.State is JobState.Completed or JobState.Failed or JobState.Cancelled;

    private void Validate(JobSubmission submission)
    {
        var o = options.Value;
        if (string.IsNullOrWhiteSpace(submission.ModelId))
        {
            throw new ArgumentException("the submission names no model (ModelId is empty)", nameof(submission));
        }

        if (submission.TokenIds is null || submission.TokenIds.Length == 0)
        {
            throw new ArgumentException("the document is empty: a job needs at least 1 token", nameof(submission));
        }

        if (submission.TokenIds.Length > o.MaxDocumentTokens)
        {
            throw new ArgumentException(
                $"the document has {submission.TokenIds.Length} tokens, more than the silo's maximum of {o.MaxDocumentTokens} (MInference:MaxDocumentTokens)", nameof(submission));
        }

        if (submission.ChunkTokens < 1 || submission.ChunkTokens > o.MaxChunkTokens)
        {
            throw new ArgumentException($"ChunkTokens {submission.ChunkTokens} must be between 1 and {o.MaxChunkTokens} (MInference:MaxChunkTokens)", nameof(submission));
        }

        if (submission.MaxNewTokens is < 0 or > JobSubmission.MaxNewTokensLimit)
        {
            throw new ArgumentException($"MaxNewTokens {submission.MaxNewTokens} must be between 0 and {JobSubmission.MaxNewTokensLimit}", nameof(submission));
        }

        if ((long)submission.TokenIds.Length + submission.MaxNewTokens > o.MaxDocumentTokens)
        {
            throw new ArgumentException(
                $"the document's {submission.TokenIds.Length} tokens and {submission.MaxNewTokens} new ones exceed the silo's maximum of {o.MaxDocumentTokens} (MInference:MaxDocumentTokens)", nameof(submission));
        }

        if (submission.TopK < 1)
        {
            throw new ArgumentException($"TopK {submission.TopK} must be at least 1", nameof(submission));
        }

        ValidateKvRetention(submission, JobId);
    }

    private static void ValidateKvRetention(JobSubmission submission, string jobId)
    {
        if (!Enum.IsDefined(submission.KvRetention))
        {
            throw new ArgumentException(
                $"KvRetention {(int)submission.KvRetention} is not one of {string.Join(", ", Enum.GetNames<KvRetention>())}", nameof(submission));
        }

        if (submission.KvRetention == KvRetention.Export)
        {
            // The directory is on the stages' silos, so only its form can be checked here; writing checks the rest.
            if (string.IsNullOrWhiteSpace(submission.KvExportDirectory) || !Path.IsPathFullyQualified(submission.KvExportDirectory))
            {
                throw new ArgumentException(
                    $"KvRetention Export needs KvExportDirectory to be an absolute directory path on the silos, not '{submission.KvExportDirectory}'", nameof(submission));
            }

            if (jobId is "." or ".." || jobId.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            {
                throw new ArgumentException($"KvRetention Export names a folder after the job id, and '{jobId}' is not a valid folder name", nameof(submission));
            }
        }
        else if (submission.KvExportDirectory is not null)
        {
            throw new ArgumentException(
                $"KvExportDirectory '{submission.KvExportDirectory}' is set but KvRetention is {submission.KvRetention}: it is used only with Export", nameof(submission));
        }
    }

    /// <summary>The submission with its text replaced by the model's token ids (the rest of the job sees ids only).</summary>
    private async Task<JobSubmission> TokenizeAsync(JobSubmission submission)
    {
        if (submission.TokenIds is { Length: > 0 })
        {
            throw new ArgumentException($"the submission has both Text and {submission.TokenIds.Length} TokenIds: give one of them", nameof(submission));
        }

        if (submission.Text!.Length == 0)
        {
            throw new ArgumentException("the document is empty: Text has no characters", nameof(submission));
        }

        var model = await ValidateAgainstRegistryAsync(submission with { Text = null });
        int[] ids;
        try
        {
            ids = tokenizers.For(model.Directory).Encode(submission.Text);
        }
        catch (Exception e) when (e is IOException or ModelFormatException or NotSupportedException)
        {
            throw new ArgumentException($"model '{model.ModelId}' cannot tokenize text: its tokenizer in '{model.Directory}' did not load ({e.Message})", nameof(submission));
        }

        return submission with { TokenIds = ids, Text = null };
    }

    /// <summary>Bad input the coordinator can tell: an unknown model, a pattern config that is malformed or does not fit it.</summary>
    private async Task<RegisteredModel> ValidateAgainstRegistryAsync(JobSubmission submission)
    {
        var coordinator = GrainFactory.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);
        var models = await coordinator.GetModelsAsync();
        var model = models.FirstOrDefault(m => string.Equals(m.ModelId, submission.ModelId, StringComparison.Ordinal))
            ?? throw new ArgumentException(
                $"model '{submission.ModelId}' is not registered (known: {(models.Count == 0 ? "none" : string.Join(", ", models.Select(m => m.ModelId)))})", nameof(submission));
        if (submission.PatternConfig is { } config && !string.Equals(config, JobSubmission.DensePatternConfig, StringComparison.Ordinal))
        {
            try
            {
                var parsed = PatternConfigJson.Parse(config, "the submission's pattern config");
                if (parsed.LayerCount != model.LayerCount)
                {
                    throw new PatternConfigException($"the submission's pattern config has {parsed.LayerCount} layers but model '{model.ModelId}' has {model.LayerCount}");
                }
            }
            catch (PatternConfigException e)
            {
                // ArgumentException crosses the wire; the config's own exception type has no Orleans codec, so not even as an inner one.
                throw new ArgumentException($"PatternConfig is not usable: {e.Message}", nameof(submission));
            }
        }

        return model;
    }

    private void StartRun()
    {
        _cancel?.Dispose();
        _cancel = new CancellationTokenSource();
        // A running job has no callers of its own; stay active until it ends.
        DelayDeactivation(TimeSpan.FromDays(1));
        // Runs on the grain's scheduler; awaited by nobody on purpose (watchers follow its progress).
        _ = RunAsync(_cancel.Token);
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var submission = Document.Submission!;
        var jobId = JobId;
        var queued = DateTimeOffset.UtcNow - Document.SubmittedAt;
        var watch = Stopwatch.StartNew();
        var coordinator = GrainFactory.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);
        var avoid = new List<string>();
        var maxAttempts = execution.Value.MaxJobAttempts;
        await StartWatchdogAsync();
        using var activity = MInferenceActivitySource.Source.StartActivity("job");
        activity?.SetTag("minference.job", jobId);
        JobState outcome;
        string? error = null;
        JobResult? result = null;
        try
        {
            var patterns = Document.Patterns;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                State.Attempts++;
                State.ProcessedTokens = 0;
                State.ChunksDone = 0;
                using var attemptCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                _attempt = attemptCancel;
                _stalled = false;
                _lastProgress = time.GetTimestamp();
                PipelinePlan? plan = null;
                try
                {
                    plan = await PlanAsync(coordinator, submission, avoid, attemptCancel.Token);
                    State.Plan = plan;
                    if (State.State != JobState.Running)
                    {
                        MInferenceMetrics.JobMoved(State.State, JobState.Running);
                        State.State = JobState.Running;
                    }

                    await ChangedAsync();
                    if (_logger.IsEnabled(LogLevel.Information))
                    {
                        var stageList = string.Join(", ", plan.Stages.Select(s => s.StageKey));
                        LogAttemptStarted(jobId, State.Attempts, plan.Stages.Count, stageList);
                    }

                    var attempt = await RunAttemptAsync(plan, patterns, attemptCancel.Token);
                    var kvFiles = submission.KvRetention == KvRetention.Export ? await ExportKvAsync(plan) : null;
                    var run = watch.Elapsed.TotalMilliseconds;
                    result = new JobResult(
                        jobId,
                        Top(attempt.PrefillLogits!, submission.TopK),
                        submission.IncludeLogits ? attempt.PrefillLogits : null,
                        new JobTimings(queued.TotalMilliseconds, run, submission.TokenIds.Length / (run / 1000.0), attempt.StageMilliseconds),
                        plan.Stages,
                        attempt.Density,
                        submission.MaxNewTokens > 0 ? attempt.Generated : null,
                        submission.MaxNewTokens > 0 ? tokenizers.TryDecode(plan.ModelDirectory, attempt.Generated!) : null,
                        kvFiles);
                    outcome = JobState.Completed;
                    break;
                }
                catch (StageCallException e) when (!cancellationToken.IsCancellationRequested && IsRecoverable(e.InnerException) && State.Attempts < maxAttempts)
                {
                    avoid.Add(e.SuspectSilo);
                    State.RetryReason = $"attempt {State.Attempts} of {maxAttempts}: {e.Message}";
                    MInferenceMetrics.JobRetries.Add(1);
                    LogRetrying(jobId, State.Attempts, maxAttempts, e.StageKey, e.SuspectSilo, e.InnerException!.Message);
                    await ReleaseStagesAsync(plan!);
                }
                catch (OperationCanceledException) when (_stalled && !cancellationToken.IsCancellationRequested)
                {
                    var stalled = $"attempt {State.Attempts} of {maxAttempts} made no progress for {execution.Value.JobProgressTimeout:c} ({ClusterExecutionOptions.SectionName}:{nameof(ClusterExecutionOptions.JobProgressTimeout)})";
                    if (State.Attempts >= maxAttempts)
                    {
                        outcome = JobState.Failed;
                        error = $"the job stalled: {stalled}; no attempts left";
                        break;
                    }

                    State.RetryReason = stalled;
                    MInferenceMetrics.JobRetries.Add(1);
                    LogStalledRetrying(jobId, State.Attempts, maxAttempts, execution.Value.JobProgressTimeout);
                    if (plan is not null)
                    {
                        await ReleaseStagesAsync(plan);
                    }
                }
                finally
                {
                    _attempt = null;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && _deactivated)
        {
            // Not cancelled by anyone: the stored state stays running and the next activation starts it again.
            return;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = JobState.Cancelled;
        }
        catch (StageCallException e)
        {
            outcome = JobState.Failed;
            error = $"{e.InnerException!.GetType().Name} on stage '{e.StageKey}' chunk {e.ChunkIndex} (attempt {State.Attempts} of {maxAttempts}): {e.InnerException.Message}";
        }
#pragma warning disable CA1031 // A job records any failure as its outcome; nothing may escape the background loop.
        catch (Exception e)
#pragma warning restore CA1031
        {
            outcome = JobState.Failed;
            error = $"{e.GetType().Name}: {e.Message}";
        }

        // Free the stages' memory and the replica before the final state becomes visible; a completed job
        // asked to keep its KV keeps both (the replica's memory is still in use) until ReleaseKvAsync.
        if (outcome == JobState.Completed && submission.KvRetention == KvRetention.Keep && State.Plan is not null)
        {
            State.KvRetained = true;
            LogKvKept(jobId, State.Plan.Stages.Count);
        }
        else
        {
            await ReleaseKvAndPlanAsync();
        }

        // Nothing left to watch; gone before the final state is visible, like the stages' memory.
        await StopWatchdogAsync();

        // A final job is an ordinary activation again: idle collection may take it (its record stays).
        DelayDeactivation(TimeSpan.FromTicks(-1));
        MInferenceMetrics.JobMoved(State.State, outcome);
        MInferenceMetrics.JobsFinished.Add(1, new KeyValuePair<string, object?>("state", outcome.ToString()));
        State.State = outcome;
        State.Error = error;
        State.Result = result;
        await ChangedAsync();
        LogFinished(jobId, outcome, State.Attempts, watch.Elapsed.TotalMilliseconds, error);
    }

    /// <summary>
    /// The watchdog's tick. Activated by it (the job's silo went away), the job has already resumed in
    /// <see cref="OnActivateAsync"/>; otherwise an attempt that made no progress for the configured timeout
    /// is cancelled, and the run loop retries or fails it. A job with nothing left to run drops the reminder.
    /// </summary>
    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (!string.Equals(reminderName, WatchdogReminderName, StringComparison.Ordinal))
        {
            return;
        }

        var timeout = execution.Value.JobProgressTimeout;
        if (State.State is not (JobState.Queued or JobState.Running) || timeout <= TimeSpan.Zero)
        {
            await StopWatchdogAsync();
            return;
        }

        var idle = time.GetElapsedTime(_lastProgress);
        if (_attempt is { IsCancellationRequested: false } attempt && idle >= timeout)
        {
            LogStalled(JobId, State.Attempts, idle.TotalSeconds, timeout);
            _stalled = true;
            await attempt.CancelAsync();
        }
    }

    /// <summary>Registers the watchdog reminder (idempotent); a reminder service that fails is logged, not fatal: the job runs unwatched.</summary>
    private async Task StartWatchdogAsync()
    {
        var timeout = execution.Value.JobProgressTimeout;
        if (timeout <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            var period = execution.Value.WatchdogPeriod;
            await this.RegisterOrUpdateReminder(WatchdogReminderName, period, period);
        }
#pragma warning disable CA1031 // The watchdog is a safety net; a job must not fail because it could not be set.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogWatchdogFailed(JobId, "register", e.Message);
        }
    }

    private async Task StopWatchdogAsync()
    {
        try
        {
            if (await this.GetReminder(WatchdogReminderName) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
#pragma warning disable CA1031 // A reminder left behind finds the job final on its next tick and goes then.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogWatchdogFailed(JobId, "unregister", e.Message);
        }
    }

    /// <summary>
    /// A replica for the job. A re-plan follows a lost silo, which may have held the coordinator: until
    /// membership declares that silo dead the coordinator is unreachable, and with in-memory storage its new
    /// activation knows the models and devices only once the surviving silos registered them again (see
    /// <see cref="DeviceRegistrar"/>). So a re-plan that fails that way is tried again for up to
    /// <see cref="_replanPatience"/>; the first plan is not (the submission was just validated against it).
    /// </summary>
    private async Task<PipelinePlan> PlanAsync(ICoordinatorGrain coordinator, JobSubmission submission, List<string> avoid, CancellationToken cancellationToken)
    {
        if (State.Attempts <= 1)
        {
            return await PlanOnceAsync(coordinator, submission, avoid);
        }

        var waited = Stopwatch.StartNew();
        for (var tries = 1; ; tries++)
        {
            try
            {
                return await PlanOnceAsync(coordinator, submission, avoid);
            }
            catch (Exception e) when (waited.Elapsed < _replanPatience && (e is ArgumentException or PlanDoesNotFitException || IsRecoverable(e)))
            {
                LogReplanWaiting(JobId, tries, e.Message);
                await Task.Delay(_replanBackoff, cancellationToken);
            }
        }
    }

    /// <summary>How long a re-plan waits for the coordinator to be reachable and to know the model and devices again.</summary>
    private static readonly TimeSpan _replanPatience = TimeSpan.FromSeconds(45);

    private static readonly TimeSpan _replanBackoff = TimeSpan.FromSeconds(1);

    /// <summary>A replica for the job, avoiding suspect silos when the rest can still hold the model.</summary>
    private async Task<PipelinePlan> PlanOnceAsync(ICoordinatorGrain coordinator, JobSubmission submission, List<string> avoid)
    {
        var request = new PlanRequest(submission.ModelId, submission.TokenIds.Length + submission.MaxNewTokens, submission.ChunkTokens, submission.StageCount, JobId, avoid.Count == 0 ? null : [.. avoid]);
        try
        {
            return await coordinator.GetPlanAsync(request);
        }
        catch (PlanDoesNotFitException) when (avoid.Count > 0)
        {
            // Suspects are only suspects: a transfer may fail on a healthy silo. Without them nothing fits, so try them again.
            return await coordinator.GetPlanAsync(request with { AvoidSilos = null });
        }
    }

    /// <summary>One run of the document through <paramref name="plan"/>: chunk-major, pipelined over the stages.</summary>
    private async Task<AttemptOutcome> RunAttemptAsync(PipelinePlan plan, string? patterns, CancellationToken cancellationToken)
    {
        var submission = Document.Submission!;
        var tokens = submission.TokenIds;
        var stages = plan.Stages.Select(s => new PlannedStage(s, GrainFactory.GetGrain<IStageGrain>(s.StageKey), SiloOf(s.StageKey))).ToList();
        // A restarted job may have left caches behind on the stages.
        for (var s = 0; s < stages.Count; s++)
        {
            var stage = stages[s];
            await CallStageAsync(stage, stage.Silo, -1, async () =>
            {
                await stage.Grain.ReleaseJobAsync(JobId);
                return true;
            });
        }

        var outcome = new AttemptOutcome(new double[stages.Count]);
        // The caches open on chunk 0 with room for the generated tokens too.
        var capacity = tokens.Length + submission.MaxNewTokens;
        var spans = ChunkSchedule.Spans(Document.ChunkLengths ?? ChunkSchedule.Fixed(tokens.Length, submission.ChunkTokens));
        var window = execution.Value.PipelineWindowChunks;
        var previousOnStage = new Task<StageChunkResult>?[stages.Count];
        var trackers = new List<Task>(spans.Count);
        var sent = new List<Task>();
        try
        {
            for (var chunk = 0; chunk < spans.Count; chunk++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (chunk >= window)
                {
                    // Chunk c enters stage 0 only once chunk c - window has left the last stage.
                    await trackers[chunk - window].WaitAsync(cancellationToken);
                }

                await gate.BeforeChunkAsync(JobId, chunk, cancellationToken);
                var (start, length) = spans[chunk];
                Task<StageChunkResult>? input = null;
                for (var s = 0; s < stages.Count; s++)
                {
                    var request = new StageChunkRequest(
                        JobId, chunk, plan.ModelDirectory, stages[s].Assignment.FirstLayer, stages[s].Assignment.EndLayer, capacity,
                        s == 0 ? tokens.AsSpan(start, length).ToArray() : null,
                        null,
                        s + 1 < stages.Count ? stages[s + 1].Silo : null,
                        chunk == 0 ? patterns : null);
                    var task = RunStageAsync(stages, s, request, input, previousOnStage[s], outcome);
                    previousOnStage[s] = task;
                    input = task;
                    sent.Add(task);
                }

                trackers.Add(TrackAsync(chunk, start + length, input!, trackers.Count == 0 ? null : trackers[^1], outcome));
            }

            await trackers[^1].WaitAsync(cancellationToken);
            outcome.PrefillLogits = outcome.Logits;
            await GenerateAsync(stages, plan, spans.Count, capacity, outcome, sent, cancellationToken);
            return outcome;
        }
        catch
        {
            // Let the chunks already sent end (or fail) before anyone frees their stages' caches.
            try
            {
                await Task.WhenAll(sent);
            }
#pragma warning disable CA1031 // Their failures are the ones being reported already, or follow from them.
            catch (Exception)
#pragma warning restore CA1031
            {
            }

            throw;
        }
    }

    /// <summary>
    /// Greedy generation after the pre-fill: the most likely token becomes a one-token chunk through every
    /// stage (their KV caches hold the document), whose logits give the next one. Steps cannot overlap, each
    /// needs the one before; the last generated token needs no pass of its own.
    /// </summary>
    private async Task GenerateAsync(
        List<PlannedStage> stages, PipelinePlan plan, int firstChunk, int capacity, AttemptOutcome outcome, List<Task> sent, CancellationToken cancellationToken)
    {
        var count = Document.Submission!.MaxNewTokens;
        for (var step = 0; step < count; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var next = ArgMax(outcome.Logits!);
            outcome.Generated.Add(next);
            if (step == count - 1)
            {
                break;
            }

            Task<StageChunkResult>? input = null;
            for (var s = 0; s < stages.Count; s++)
            {
                var request = new StageChunkRequest(
                    JobId, firstChunk + step, plan.ModelDirectory, stages[s].Assignment.FirstLayer, stages[s].Assignment.EndLayer, capacity,
                    s == 0 ? [next] : null,
                    null,
                    s + 1 < stages.Count ? stages[s + 1].Silo : null,
                    null);
                input = RunStageAsync(stages, s, request, input, null, outcome);
                sent.Add(input);
            }

            outcome.Logits = (await input!.WaitAsync(cancellationToken)).Logits;
            // A step is progress: long generations must not look stalled to the watchdog.
            _lastProgress = time.GetTimestamp();
        }
    }

    private static int ArgMax(float[] logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }

        return best;
    }

    /// <summary>Stage s's turn on a chunk: after the chunk left stage s-1 and stage s finished the chunk before.</summary>
    private static async Task<StageChunkResult> RunStageAsync(
        List<PlannedStage> stages, int s, StageChunkRequest request, Task<StageChunkResult>? input, Task<StageChunkResult>? previousOnStage, AttemptOutcome outcome)
    {
        if (input is not null)
        {
            request = request with { Input = (await input).Output };
        }

        if (previousOnStage is not null)
        {
            await previousOnStage;
        }

        var stage = stages[s];
        var producer = s == 0 ? stage.Silo : stages[s - 1].Silo;
        var result = await CallStageAsync(stage, producer, request.ChunkIndex, () => stage.Grain.RunChunkAsync(request));
        outcome.StageMilliseconds[s] += result.ElapsedMilliseconds;
        outcome.AddDensity(result.Density);
        return result;
    }

    /// <summary>Records chunks leaving the pipeline in order: progress, and the logits of the last one.</summary>
    private async Task TrackAsync(int chunk, long processed, Task<StageChunkResult> last, Task? previous, AttemptOutcome outcome)
    {
        var result = await last;
        if (previous is not null)
        {
            await previous;
        }

        outcome.Logits = result.Logits ?? outcome.Logits;
        State.ChunksDone = chunk + 1;
        State.ProcessedTokens = processed;
        await ChangedAsync();
    }

    /// <summary>Calls a stage; a failure names the stage and the silo to suspect (the producer's, when its transfer failed).</summary>
    private static async Task<T> CallStageAsync<T>(PlannedStage stage, string producerSilo, int chunkIndex, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is not StageCallException and not OperationCanceledException)
        {
            throw new StageCallException(stage.Assignment.StageKey, chunkIndex, e is TransferFailedException ? producerSilo : stage.Silo, e);
        }
    }

    private async Task ReleaseStagesAsync(PipelinePlan plan)
    {
        foreach (var assignment in plan.Stages)
        {
            try
            {
                await GrainFactory.GetGrain<IStageGrain>(assignment.StageKey).ReleaseJobAsync(JobId);
            }
#pragma warning disable CA1031 // A stage that is gone has nothing left to free.
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogReleaseFailed(JobId, assignment.StageKey, e.Message);
            }
        }
    }

    /// <summary>Failures a re-plan can get past: a stage or silo that went away, a call that timed out, a transfer that failed.</summary>
    private static bool IsRecoverable(Exception? e) => e is SiloUnavailableException
        or OrleansMessageRejectionException
        or TimeoutException
        or TransferFailedException
        or ObjectDisposedException;

    private static string SiloOf(string stageKey) => StageKeys.TryParse(stageKey, out var silo, out _) ? silo : stageKey;

    private async Task ChangedAsync()
    {
        _lastProgress = time.GetTimestamp();
        State.Version++;
        await progress.WriteStateAsync();
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    private JobProgress Progress() => new(
        JobId,
        State.State,
        State.Version,
        State.ProcessedTokens,
        Document.Submission?.TokenIds.Length ?? 0,
        State.ChunksDone,
        State.ChunkCount,
        State.Error,
        State.Plan?.Stages.Select(s => s.StageKey).ToList(),
        State.Attempts,
        State.RetryReason,
        State.KvRetained);

    private static List<TokenScore> Top(float[] logits, int count)
    {
        var max = logits.Max();
        var sum = logits.Sum(l => Math.Exp(l - max));
        return [.. logits
            .Select((logit, id) => new TokenScore(id, logit, Math.Exp(logit - max) / sum))
            .OrderByDescending(t => t.Logit)
            .ThenBy(t => t.TokenId)
            .Take(count)];
    }

    private static string Hash(JobSubmission submission)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(MemoryMarshal.AsBytes(submission.TokenIds.AsSpan()));
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(
            $"{submission.ModelId}|{submission.ChunkTokens}|{submission.TopK}|{submission.StageCount}|{submission.IncludeLogits}|{submission.PatternConfig}|{submission.DynamicChunks}{(submission.MaxNewTokens > 0 ? $"|{submission.MaxNewTokens}" : "")}{(submission.KvRetention != KvRetention.Release ? $"|kv:{submission.KvRetention}|{submission.KvExportDirectory}" : "")}"));
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    [LoggerMessage(EventId = 4308, Level = LogLevel.Information, Message = "Job {JobId} cut into {Chunks} cost-balanced chunks: {Sizes}")]
    private partial void LogChunkSizes(string jobId, int chunks, string sizes);

    [LoggerMessage(EventId = 4300, Level = LogLevel.Information, Message = "Job {JobId} submitted: model {ModelId}, {Tokens} tokens in {Chunks} chunks")]
    private partial void LogSubmitted(string jobId, string modelId, int tokens, int chunks);

    [LoggerMessage(EventId = 4301, Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt}: {StageCount} stages on {Stages}")]
    private partial void LogAttemptStarted(string jobId, int attempt, int stageCount, string stages);

    [LoggerMessage(EventId = 4302, Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt} of {MaxAttempts} lost stage {StageKey} (suspect silo {Silo}); re-planning: {Problem}")]
    private partial void LogRetrying(string jobId, int attempt, int maxAttempts, string stageKey, string silo, string problem);

    [LoggerMessage(EventId = 4303, Level = LogLevel.Information, Message = "Job {JobId} ended {State} after {Attempts} attempts in {Milliseconds:F0} ms {Error}")]
    private partial void LogFinished(string jobId, JobState state, int attempts, double milliseconds, string? error);

    [LoggerMessage(EventId = 4304, Level = LogLevel.Information, Message = "Job {JobId} resumed in state {State} after its activation moved")]
    private partial void LogResumed(string jobId, JobState state);

    [LoggerMessage(EventId = 4305, Level = LogLevel.Information, Message = "Job {JobId} cancel requested")]
    private partial void LogCancelRequested(string jobId);

    [LoggerMessage(EventId = 4307, Level = LogLevel.Warning, Message = "Job {JobId} deactivated while running ({Reason}); the next activation resumes it")]
    private partial void LogDeactivatedWhileRunning(string jobId, string reason);

    [LoggerMessage(EventId = 4309, Level = LogLevel.Information, Message = "Job {JobId} re-plan try {Try} failed, waiting for the coordinator to know the cluster again: {Problem}")]
    private partial void LogReplanWaiting(string jobId, int @try, string problem);

    [LoggerMessage(EventId = 4310, Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt} made no progress for {IdleSeconds:F1} s (timeout {Timeout}); the watchdog stops it")]
    private partial void LogStalled(string jobId, int attempt, double idleSeconds, TimeSpan timeout);

    [LoggerMessage(EventId = 4311, Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt} of {MaxAttempts} stalled (no progress for {Timeout}); re-planning")]
    private partial void LogStalledRetrying(string jobId, int attempt, int maxAttempts, TimeSpan timeout);

    [LoggerMessage(EventId = 4312, Level = LogLevel.Warning, Message = "Job {JobId} could not {Action} its watchdog reminder: {Problem}")]
    private partial void LogWatchdogFailed(string jobId, string action, string problem);

    [LoggerMessage(EventId = 4313, Level = LogLevel.Information, Message = "Job {JobId} completed keeping its KV caches on {Stages} stages until released")]
    private partial void LogKvKept(string jobId, int stages);

    [LoggerMessage(EventId = 4315, Level = LogLevel.Information, Message = "Job {JobId} exported {Files} KV layer files to {Directory}")]
    private partial void LogKvExported(string jobId, int files, string directory);

    [LoggerMessage(EventId = 4314, Level = LogLevel.Information, Message = "Job {JobId} released its kept KV caches")]
    private partial void LogKvReleased(string jobId);

    [LoggerMessage(EventId = 4306, Level = LogLevel.Debug, Message = "Job {JobId} could not release stage {StageKey}: {Problem}")]
    private partial void LogReleaseFailed(string jobId, string stageKey, string problem);

    private sealed record PlannedStage(StageAssignment Assignment, IStageGrain Grain, string Silo);

    /// <summary>What one attempt collects: compute ms per stage, attention density per layer, and the last chunk's logits.</summary>
    private sealed class AttemptOutcome(double[] stageMilliseconds)
    {
        private readonly SortedDictionary<int, LayerDensity> _density = [];

        public double[] StageMilliseconds { get; } = stageMilliseconds;

        public float[]? Logits { get; set; }

        /// <summary>The last position's logits after the document (before any generated token).</summary>
        public float[]? PrefillLogits { get; set; }

        /// <summary>Greedy tokens generated after the document.</summary>
        public List<int> Generated { get; } = [];

        /// <summary>Per layer, summed over the chunks so far (each layer lives on one stage).</summary>
        public IReadOnlyList<LayerDensity> Density => [.. _density.Values];

        public void AddDensity(IReadOnlyList<LayerDensity>? chunk)
        {
            foreach (var layer in chunk ?? [])
            {
                _density[layer.Layer] = _density.TryGetValue(layer.Layer, out var sum) ? sum.Add(layer) : layer;
            }
        }
    }
}
