namespace MInference.Shared.Contracts;

/// <summary>
/// One device's pipeline stage, key <c>"{siloName}/{deviceIndex}"</c>, pinned to that silo. A thin front
/// for the silo's device worker, which holds the weights and the per-job KV caches. Arguments and
/// results carry tickets, never activation tensors.
/// </summary>
[Alias("minference.stage")]
public interface IStageGrain : IGrainWithStringKey
{
    /// <summary>Runs one chunk of a job through this stage's layers (opening the job's KV cache on its first chunk).</summary>
    [Alias("run-chunk")]
    Task<StageChunkResult> RunChunkAsync(StageChunkRequest request);

    /// <summary>
    /// Writes the job's KV cache (positions filled so far) to <c>{directory}/{jobId}/layer-{i:D3}.safetensors</c>,
    /// one file per layer of this stage (tensors <c>k</c> and <c>v</c>, [tokens, kvHeads*headDim]); returns the
    /// files. The cache stays open until <see cref="ReleaseJobAsync"/>.
    /// </summary>
    [Alias("export-job")]
    Task<IReadOnlyList<string>> ExportJobAsync(string jobId, string directory);

    /// <summary>Frees the job's KV cache and any activations it left in the data plane; idempotent.</summary>
    [Alias("release-job")]
    Task ReleaseJobAsync(string jobId);

    /// <summary>
    /// Unloads the shards no job uses that are idle past the silo's ShardIdleTimeout or belong to a model
    /// the coordinator no longer knows (each stage also does this on a timer); returns the unloaded shards.
    /// </summary>
    [Alias("unload-unused-shards")]
    Task<IReadOnlyList<string>> UnloadUnusedShardsAsync();

    [Alias("get-status")]
    Task<StageStatus> GetStatusAsync();
}
