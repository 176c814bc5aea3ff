using Microsoft.Extensions.DependencyInjection;
using MInference.Client;
using MInference.Shared.Contracts;
using MInference.Silo.Grains;
using MInference.Silo.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;

namespace MInference.Cluster.Tests;

public sealed class JobPersistenceTests(ClusterFixture models, JobPersistenceTests.OneSiloCluster cluster) : IClassFixture<JobPersistenceTests.OneSiloCluster>
{
    private const int ChunkTokens = 64;

    private const int Chunks = 5;

    /// <summary>
    /// A job's document (its token ids and submission) is written once, at submission; each chunk and
    /// state change writes only the small progress record. The stored document holds the tokens, and the
    /// stored progress is the final state, so a later activation finds both.
    /// </summary>
    [Fact]
    public async Task The_document_is_written_once_and_each_chunk_writes_only_progress()
    {
        var ct = TestContext.Current.CancellationToken;
        await cluster.Client.RegisterModelAsync(ClusterFixture.ModelId, models.ModelDirectory, ct);
        var jobId = "persist-" + Guid.NewGuid().ToString("N");
        var tokens = TestDocuments.Random(seed: 4242, length: Chunks * ChunkTokens);

        await cluster.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ModelId, tokens, ChunkTokens, StageCount: 1), ct);
        await cluster.Client.GetResultAsync(jobId, ct);

        var document = SharedTestGrainStorage.Stored<JobRecord>(JobGrain.DocumentStateName, jobId);
        var progress = SharedTestGrainStorage.Stored<JobProgressRecord>(JobGrain.ProgressStateName, jobId);
        Assert.Equal(1, document.Writes);
        Assert.Equal(tokens, document.State.Submission!.TokenIds);
        Assert.True(progress.Writes >= Chunks + 2, $"progress was written {progress.Writes} times for {Chunks} chunks, a submission, a start and an outcome");
        Assert.Equal(JobState.Completed, progress.State.State);
        Assert.Equal(Chunks, progress.State.ChunksDone);
    }

    /// <summary>A cluster of one silo whose job storage counts writes per state and grain (<see cref="SharedTestGrainStorage"/>).</summary>
    public sealed class OneSiloCluster : IAsyncLifetime
    {
        public TestCluster Cluster { get; private set; } = null!;

        public MInferenceClient Client { get; private set; } = null!;

        public async ValueTask InitializeAsync()
        {
            var builder = new TestClusterBuilder(1);
            builder.AddSiloBuilderConfigurator<SiloConfigurator>();
            Cluster = builder.Build();
            await Cluster.DeployAsync();
            Client = new MInferenceClient(Cluster.Client);
        }

        public async ValueTask DisposeAsync()
        {
            await Cluster.StopAllSilosAsync();
            await Cluster.DisposeAsync();
        }

        private sealed class SiloConfigurator : ISiloConfigurator
        {
            public void Configure(ISiloBuilder siloBuilder)
            {
                siloBuilder.Services.AddKeyedSingleton<IGrainStorage>(
                    MInferenceSiloBuilderExtensions.JobStorageName, (sp, _) => new SharedTestGrainStorage(sp.GetRequiredService<DeepCopier>()));
                siloBuilder.AddMInference(configure: o =>
                {
                    o.CpuDevices = 1;
                    o.CpuThreadsPerDevice = 1;
                });
            }
        }
    }
}
