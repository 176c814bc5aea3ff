using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using MInference.Shared.Contracts;
using MInference.Silo.Hosting;

namespace MInference.Silo.Grains;

/// <summary>
/// One document: queued -> running -> completed | failed | cancelled. The work runs as a background
/// loop on the grain's scheduler (each stage call is short: one chunk), so progress queries, watchers
/// and cancellation interleave with it. A job found queued or running on activation (its silo went
/// away) is restarted from the start.
/// </summary>
internal sealed class JobGrain(
    [PersistentState("job", MInferenceSiloBuilderExtensions.JobStorageName)] IPersistentState<JobRecord> record,
    IOptions<MInferenceSiloOptions> options,
    IJobChunkGate gate) : Grain, IJobGrain, IDisposable
{
    private const int MaxWaitSeconds = 20;

    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _cancel;

    private JobRecord State => record.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (State.State is JobState.Queued or JobState.Running)
        {
            StartRun();
        }

        return Task.CompletedTask;
    }

    public async Task<JobProgress> SubmitAsync(JobSubmission submission)
    {
        ArgumentNullException.ThrowIfNull(submission);
        var hash = Hash(submission);
        if (State.State != JobState.Unknown)
        {
            if (!string.Equals(hash, State.DocumentHash, StringComparison.Ordinal))
            {
                throw new JobConflictException($"job '{this.GetPrimaryKeyString()}' was already submitted with a different document or options");
            }

            return Progress();
        }

        Validate(submission);
        State.Submission = submission;
        State.DocumentHash = hash;
        State.State = JobState.Queued;
        State.ChunkCount = (submission.TokenIds.Length + submission.ChunkTokens - 1) / submission.ChunkTokens;
        State.SubmittedAt = DateTimeOffset.UtcNow;
        await ChangedAsync();
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

    public Task<JobProgress> CancelAsync()
    {
        _cancel?.Cancel();
        return Task.FromResult(Progress());
    }

    private bool IsFinal => State.State is JobState.Completed or JobState.Failed or JobState.Cancelled;

    private void Validate(JobSubmission submission)
    {
        var o = options.Value;
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

        if (submission.TopK < 1)
        {
            throw new ArgumentException($"TopK {submission.TopK} must be at least 1", nameof(submission));
        }
    }

    private void StartRun()
    {
        _cancel = new CancellationTokenSource();
        // Runs on the grain's scheduler; awaited by nobody on purpose (watchers follow its progress).
        _ = RunAsync(_cancel.Token);
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var submission = State.Submission!;
        var jobId = this.GetPrimaryKeyString();
        var queued = DateTimeOffset.UtcNow - State.SubmittedAt;
        var watch = Stopwatch.StartNew();
        State.Attempts++;
        State.ProcessedTokens = 0;
        State.ChunksDone = 0;
        IReadOnlyList<IStageGrain> stages = [];
        JobState outcome;
        string? error = null;
        JobResult? result = null;
        try
        {
            var coordinator = GrainFactory.GetGrain<ICoordinatorGrain>(ICoordinatorGrain.DefaultKey);
            var plan = await coordinator.GetPlanAsync(new PlanRequest(submission.ModelId, submission.TokenIds.Length, submission.ChunkTokens, submission.StageCount));
            State.Plan = plan;
            State.State = JobState.Running;
            stages = [.. plan.Stages.Select(s => GrainFactory.GetGrain<IStageGrain>(s.StageKey))];
            // A restarted job may have left caches behind on the stages.
            await Task.WhenAll(stages.Select(s => s.ReleaseJobAsync(jobId)));
            await ChangedAsync();

            var stageMs = new double[stages.Count];
            float[]? logits = null;
            var tokens = submission.TokenIds;
            for (var chunk = 0; chunk < State.ChunkCount; chunk++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await gate.BeforeChunkAsync(jobId, chunk, cancellationToken);
                var start = chunk * submission.ChunkTokens;
                var length = Math.Min(submission.ChunkTokens, tokens.Length - start);
                ActivationTicket? ticket = null;
                for (var s = 0; s < stages.Count; s++)
                {
                    var assignment = plan.Stages[s];
                    var request = new StageChunkRequest(
                        jobId, chunk, plan.ModelDirectory, assignment.FirstLayer, assignment.EndLayer, tokens.Length,
                        s == 0 ? tokens.AsSpan(start, length).ToArray() : null,
                        s == 0 ? null : ticket);
                    var chunkResult = await stages[s].RunChunkAsync(request);
                    stageMs[s] += chunkResult.ElapsedMilliseconds;
                    ticket = chunkResult.Output;
                    logits = chunkResult.Logits ?? logits;
                }

                State.ProcessedTokens = start + length;
                State.ChunksDone = chunk + 1;
                await ChangedAsync();
            }

            var run = watch.Elapsed.TotalMilliseconds;
            result = new JobResult(
                jobId,
                Top(logits!, submission.TopK),
                submission.IncludeLogits ? logits : null,
                new JobTimings(queued.TotalMilliseconds, run, tokens.Length / (run / 1000.0), stageMs),
                plan.Stages);
            outcome = JobState.Completed;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = JobState.Cancelled;
        }
#pragma warning disable CA1031 // A job records any failure as its outcome; nothing may escape the background loop.
        catch (Exception e)
#pragma warning restore CA1031
        {
            outcome = JobState.Failed;
            error = $"{e.GetType().Name}: {e.Message}";
        }

        // Free the stages' memory before the final state becomes visible.
        foreach (var stage in stages)
        {
            try
            {
                await stage.ReleaseJobAsync(jobId);
            }
#pragma warning disable CA1031 // A stage that is gone has nothing left to free.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }

        State.State = outcome;
        State.Error = error;
        State.Result = result;
        await ChangedAsync();
    }

    private async Task ChangedAsync()
    {
        State.Version++;
        await record.WriteStateAsync();
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    private JobProgress Progress() => new(
        this.GetPrimaryKeyString(),
        State.State,
        State.Version,
        State.ProcessedTokens,
        State.Submission?.TokenIds.Length ?? 0,
        State.ChunksDone,
        State.ChunkCount,
        State.Error,
        State.Plan?.Stages.Select(s => s.StageKey).ToList());

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
            $"{submission.ModelId}|{submission.ChunkTokens}|{submission.TopK}|{submission.StageCount}|{submission.IncludeLogits}"));
        return Convert.ToHexString(sha.GetHashAndReset());
    }
}
