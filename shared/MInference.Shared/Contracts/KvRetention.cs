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

    /// <summary>Write every layer's K and V to <see cref="JobSubmission.KvExportDirectory"/>, then free them (not supported yet: refused at submission).</summary>
    Export = 2,
}
