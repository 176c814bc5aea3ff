using System.Runtime.InteropServices;
using MInference.Client;
using MInference.Engine;
using MInference.Kernels.Cpu;
using MInference.Shared.Contracts;
using MInference.Shared.Models;
using MInference.Shared.Models.Safetensors;

namespace MInference.Cluster.Tests;

public sealed class KvExportTests(ClusterFixture fixture)
{
    /// <summary>
    /// A 2-stage job with KvRetention Export writes one file per layer under {dir}/{jobId}; each loads with
    /// our safetensors reader, holds k and v of [document tokens, kvHeads*headDim] in f32 (the CPU cache's
    /// dtype), and its K and V equal the single-process engine's caches for the same document and chunks.
    /// The result lists the files, no temporary file is left, and the stages freed the caches.
    /// </summary>
    [Fact]
    public async Task Export_writes_every_layer_equal_to_the_engine_cache()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "kv-export-" + Guid.NewGuid().ToString("N");
        var directory = Directory.CreateTempSubdirectory("minference-kv-export-").FullName;
        try
        {
            var tokens = TestDocuments.Random(seed: 233, length: 40);
            await fixture.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ModelId, tokens, ChunkTokens: 16, StageCount: 2, KvRetention: KvRetention.Export, KvExportDirectory: directory), ct);
            var result = await fixture.Client.GetResultAsync(jobId, ct);
            var after = await Task.WhenAll(result.Stages.Select(s => fixture.Cluster.Client.GetGrain<IStageGrain>(s.StageKey).GetStatusAsync()));
            var (keys, values) = ReferenceCaches(fixture.ModelDirectory, tokens, 16, ct);

            var expectedFiles = Enumerable.Range(0, keys.Length).Select(i => Path.Combine(directory, jobId, $"layer-{i:D3}.safetensors")).ToList();
            Assert.Equal(2, result.Stages.Count);
            Assert.Equal(expectedFiles, result.KvFiles);
            Assert.Equal(expectedFiles.Order(StringComparer.Ordinal), Directory.GetFiles(Path.Combine(directory, jobId)).Order(StringComparer.Ordinal));
            Assert.All(after, s => Assert.DoesNotContain(jobId, s.OpenJobs));
            for (var layer = 0; layer < keys.Length; layer++)
            {
                using var file = SafetensorsFile.Open(expectedFiles[layer]);
                AssertTensor(file, "k", keys[layer], tokens.Length, layer);
                AssertTensor(file, "v", values[layer], tokens.Length, layer);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>An export directory that does not exist on the silos fails the job with a message naming it; the stages free the caches.</summary>
    [Fact]
    public async Task Export_to_a_missing_directory_fails_the_job()
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "kv-export-missing-" + Guid.NewGuid().ToString("N");
        var missing = Path.Combine(Path.GetTempPath(), "minference-no-such-dir-" + Guid.NewGuid().ToString("N"));

        await fixture.Client.SubmitAsync(jobId, new JobSubmission(ClusterFixture.ModelId, TestDocuments.Random(seed: 239, length: 24), ChunkTokens: 16, StageCount: 2, KvRetention: KvRetention.Export, KvExportDirectory: missing), ct);
        var error = await Assert.ThrowsAsync<JobFailedException>(() => fixture.Client.GetResultAsync(jobId, ct));
        var progress = await fixture.Client.GetProgressAsync(jobId, ct);
        var after = await Task.WhenAll(progress.StageKeys!.Select(k => fixture.Cluster.Client.GetGrain<IStageGrain>(k).GetStatusAsync()));

        Assert.Equal(JobState.Failed, progress.State);
        Assert.Contains(missing, progress.Error, StringComparison.Ordinal);
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(missing), "the export created the missing directory");
        Assert.All(after, s => Assert.DoesNotContain(jobId, s.OpenJobs));
    }

    /// <summary>Export without a directory, or with a relative one, is a typed input error naming the value.</summary>
    [Theory]
    [InlineData(null)]
    [InlineData("relative/dir")]
    public async Task Export_needs_an_absolute_directory(string? directory)
    {
        var ct = TestContext.Current.CancellationToken;
        var jobId = "kv-export-bad-" + Guid.NewGuid().ToString("N");

        var error = await Assert.ThrowsAsync<MInferenceInputException>(() => fixture.Client.SubmitAsync(
            jobId, new JobSubmission(ClusterFixture.ModelId, TestDocuments.Random(seed: 241, length: 8), KvRetention: KvRetention.Export, KvExportDirectory: directory), ct));

        Assert.Contains("KvExportDirectory", error.Message, StringComparison.Ordinal);
        Assert.Contains($"'{directory}'", error.Message, StringComparison.Ordinal);
        Assert.Equal(JobState.Unknown, (await fixture.Client.GetProgressAsync(jobId, ct)).State);
    }

    private static void AssertTensor(SafetensorsFile file, string name, float[] expected, int tokens, int layer)
    {
        var tensor = file.GetTensor(name);
        Assert.Equal(TensorDType.Float32, tensor.Info.DType);
        Assert.Equal(2, tensor.Info.Shape.Length);
        Assert.Equal(tokens, tensor.Info.Shape[0]);
        var actual = MemoryMarshal.Cast<byte, float>(file.GetBytes(name)).ToArray();
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(
                Math.Abs(expected[i] - actual[i]) <= ReferenceLogits.Tolerance * Math.Max(1f, Math.Abs(expected[i])),
                $"layer {layer} {name}[{i}]: exported {actual[i]} vs engine {expected[i]}");
        }
    }

    /// <summary>The single-process engine's K and V caches (filled rows only) per layer after pre-filling the document.</summary>
    private static (float[][] Keys, float[][] Values) ReferenceCaches(string modelDirectory, int[] tokens, int chunkTokens, CancellationToken cancellationToken)
    {
        using var weights = SafetensorsModelWeights.Open(modelDirectory);
        using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = 1 });
        using var shard = ModelShard.Load(weights, new LayerRange(0, weights.Spec.LayerCount), backend, new ModelShardOptions(), cancellationToken);
        var runner = new ModelRunner([shard]);
        using var sequence = runner.CreateSequence(tokens.Length)[0];
        runner.Prefill([sequence], tokens, chunkTokens, cancellationToken: cancellationToken);
        var layers = weights.Spec.LayerCount;
        var keys = new float[layers][];
        var values = new float[layers][];
        for (var layer = 0; layer < layers; layer++)
        {
            keys[layer] = Read(backend, sequence.KeyCache(layer), tokens.Length);
            values[layer] = Read(backend, sequence.ValueCache(layer), tokens.Length);
        }

        return (keys, values);
    }

    private static float[] Read(CpuBackend backend, Kernels.Backends.IDeviceTensor cache, int tokens)
    {
        var data = new float[tokens * cache.Columns];
        Array.Fill(data, float.NaN);
        using var view = cache.SliceRows(0, tokens);
        backend.Download(view, data);
        return data;
    }
}
