namespace MInference.Silo.Grains;

/// <summary>Awaited by a job before each chunk: a seam for admission control (and for tests, a pause).</summary>
public interface IJobChunkGate
{
    ValueTask BeforeChunkAsync(string jobId, int chunkIndex, CancellationToken cancellationToken);
}

/// <summary>Lets every chunk through.</summary>
internal sealed class OpenJobChunkGate : IJobChunkGate
{
    public ValueTask BeforeChunkAsync(string jobId, int chunkIndex, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
