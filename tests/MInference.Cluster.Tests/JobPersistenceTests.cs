using System.Collections.Concurrent;
using System.Globalization;
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

        var document = CountingGrainStorage.Stored<JobRecord>(JobGrain.DocumentStateName, jobId);
        var progress = CountingGrainStorage.Stored<JobProgressRecord>(JobGrain.ProgressStateName, jobId);
        Assert.Equal(1, document.Writes);
        Assert.Equal(tokens, document.State.Submission!.TokenIds);
        Assert.True(progress.Writes >= Chunks + 2, $"progress was written {progress.Writes} times for {Chunks} chunks, a submission, a start and an outcome");
        Assert.Equal(JobState.Completed, progress.State.State);
        Assert.Equal(Chunks, progress.State.ChunksDone);
    }

    /// <summary>A cluster of one silo whose job storage counts writes per state and grain.</summary>
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
                    MInferenceSiloBuilderExtensions.JobStorageName, (sp, _) => new CountingGrainStorage(sp.GetRequiredService<DeepCopier>()));
                siloBuilder.AddMInference(configure: o =>
                {
                    o.CpuDevices = 1;
                    o.CpuThreadsPerDevice = 1;
                });
            }
        }
    }

    /// <summary>In-memory grain storage (one for the process) that counts the writes of each state of each grain.</summary>
    private sealed class CountingGrainStorage(DeepCopier copier) : IGrainStorage
    {
        private static readonly ConcurrentDictionary<string, (object State, int Writes)> _records = new(StringComparer.Ordinal);

        public static (T State, int Writes) Stored<T>(string stateName, string grainKey)
        {
            Assert.True(_records.TryGetValue(stateName + "|" + grainKey, out var stored), $"no '{stateName}' state was written for '{grainKey}'");
            return ((T)stored.State, stored.Writes);
        }

        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            if (_records.TryGetValue(Key(stateName, grainId), out var stored))
            {
                grainState.State = copier.Copy((T)stored.State);
                grainState.ETag = stored.Writes.ToString(CultureInfo.InvariantCulture);
                grainState.RecordExists = true;
            }

            return Task.CompletedTask;
        }

        public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            var stored = _records.AddOrUpdate(
                Key(stateName, grainId),
                _ => (copier.Copy(grainState.State)!, 1),
                (_, old) => (copier.Copy(grainState.State)!, old.Writes + 1));
            grainState.ETag = stored.Writes.ToString(CultureInfo.InvariantCulture);
            grainState.RecordExists = true;
            return Task.CompletedTask;
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            _records.TryRemove(Key(stateName, grainId), out _);
            grainState.RecordExists = false;
            return Task.CompletedTask;
        }

        private static string Key(string stateName, GrainId grainId) => stateName + "|" + grainId.Key;
    }
}
