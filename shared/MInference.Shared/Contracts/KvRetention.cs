namespace MInference.Shared.Contracts;

/// <summary>What a job's stages do with its KV caches once the job completed.</summary>
[GenerateSerializer, Alias("minference.kv-retention")]
public enum KvRetention
{
    /// <summary>Free them when the job ends (the default).</summary>
    Release = 0,

    /// <summary>
    /// Keep them on the stages after completion until the client releases them
    /// (<see cref="IJobGrain.ReleaseKvAsync"/>) or cancels the job; a failed or cancelled job frees them anyway.
    /// </summary>
    Keep = 1,

    /// <summary>
    /// After the document (and any generated tokens), every stage writes its layers' K and V to
    /// <c>{KvExportDirectory}/{jobId}/layer-{i:D3}.safetensors</c> on its silo (tensors <c>k</c>, <c>v</c>,
    /// [tokens, kvHeads*headDim], bf16 or f32 as the cache holds), then frees them; the result lists the files.
    /// A file that cannot be written fails the job.
    /// </summary>
    Export = 2,
}
