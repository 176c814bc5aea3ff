using MInference.Shared.Contracts;

namespace MInference.Cluster.Tests;

public sealed class JobSubmissionTests(ClusterFixture fixture)
{
    /// <summary>
    /// Submitting the same document twice under one id runs it once (the second call returns the same
    /// job, and the job ran one attempt's chunks); a different document under that id is refused.
    /// </summary>
    [Fact]
    public async Task Submission_is_idempotent_by_job_id()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "idempotent-" + Guid.NewGuid().ToString("N");
        var submission = new JobSubmission(ClusterFixture.ModelId, TestDocuments.Random(seed: 67, length: 40), ChunkTokens: 16);

        var first = await fixture.Client.SubmitAsync(jobId, submission, ct);
        var firstResult = await fixture.Client.GetResultAsync(jobId, ct);
        var again = await fixture.Client.SubmitAsync(jobId, submission with { TokenIds = [.. submission.TokenIds] }, ct);
        var secondResult = await fixture.Client.GetResultAsync(jobId, ct);

        Assert.Equal(JobState.Queued, first.State);
        Assert.Equal(JobState.Completed, again.State);
        Assert.Equal(3, again.ChunksDone);
        Assert.Equal(firstResult.TopTokens, secondResult.TopTokens);
        Assert.Equal(firstResult.Timings.RunMilliseconds, secondResult.Timings.RunMilliseconds);
        await Assert.ThrowsAsync<JobConflictException>(() => fixture.Client.SubmitAsync(
            jobId, submission with { TokenIds = TestDocuments.Random(seed: 71, length: 40) }, ct));
    }

    /// <summary>An empty document is refused with an error that says so, and the job stays unknown.</summary>
    [Fact]
    public async Task Empty_document_is_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "empty-" + Guid.NewGuid().ToString("N");

        var error = await Assert.ThrowsAsync<Client.MInferenceInputException>(() => fixture.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ModelId, []), ct));

        Assert.Contains("empty", error.Message, StringComparison.Ordinal);
        Assert.Equal(JobState.Unknown, (await fixture.Client.GetProgressAsync(jobId, ct)).State);
    }

    /// <summary>A job for an unregistered model is refused at submission with an error naming the model; the job stays unknown.</summary>
    [Fact]
    public async Task Unknown_model_is_refused_with_its_name()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "unknown-model-" + Guid.NewGuid().ToString("N");

        var error = await Assert.ThrowsAsync<Client.MInferenceInputException>(() => fixture.Client.SubmitAsync(jobId, new JobSubmission("no-such-model", TestDocuments.Random(seed: 73, length: 8)), ct));

        Assert.Contains("no-such-model", error.Message, StringComparison.Ordinal);
        Assert.Equal(JobState.Unknown, (await fixture.Client.GetProgressAsync(jobId, ct)).State);
    }

    /// <summary>A document one token over the silos' MInference:MaxDocumentTokens is refused with both numbers in the message.</summary>
    [Fact]
    public async Task Oversized_document_is_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "oversized-" + Guid.NewGuid().ToString("N");

        var error = await Assert.ThrowsAsync<Client.MInferenceInputException>(() => fixture.Client.SubmitAsync(
            jobId, new JobSubmission(ClusterFixture.ModelId, TestDocuments.Random(seed: 74, length: ClusterFixture.MaxDocumentTokens + 1)), ct));

        Assert.Contains($"{ClusterFixture.MaxDocumentTokens + 1} tokens", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{ClusterFixture.MaxDocumentTokens}", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A malformed pattern config, and one with the wrong number of layers, are refused at submission with
    /// errors that name the problem; the cluster then still runs a job.
    /// </summary>
    [Fact]
    public async Task Malformed_pattern_config_is_refused_and_the_cluster_stays_healthy()
    {
        var ct = TestContext.Current.CancellationToken;
        var document = TestDocuments.Random(seed: 75, length: 24);

        var malformed = await Assert.ThrowsAsync<Client.MInferenceInputException>(() => fixture.Client.SubmitAsync(
            "bad-config-" + Guid.NewGuid().ToString("N"), new JobSubmission(ClusterFixture.ModelId, document, PatternConfig: "{ not json"), ct));
        var healthyId = "after-bad-config-" + Guid.NewGuid().ToString("N");
        await fixture.Client.SubmitAsync(healthyId, new JobSubmission(ClusterFixture.ModelId, document, ChunkTokens: 16), ct);
        var healthy = await fixture.Client.GetResultAsync(healthyId, ct);

        Assert.Contains("PatternConfig", malformed.Message, StringComparison.Ordinal);
        Assert.NotEmpty(healthy.TopTokens);
    }
}
