namespace MInference.Silo.Grains;

/// <summary>
/// A job's call to one stage failed; names the stage and the silo to suspect (the stage's own, or for a
/// failed transfer the producer's). Stays inside the job grain, which re-plans around the suspect or fails.
/// </summary>
internal sealed class StageCallException : Exception
{
    public StageCallException()
    {
    }

    public StageCallException(string message)
        : base(message)
    {
    }

    public StageCallException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public StageCallException(string stageKey, int chunkIndex, string suspectSilo, Exception innerException)
        : base($"stage '{stageKey}' failed on chunk {chunkIndex}: {innerException.GetType().Name}: {innerException.Message}", innerException)
    {
        StageKey = stageKey;
        ChunkIndex = chunkIndex;
        SuspectSilo = suspectSilo;
    }

    public string StageKey { get; } = string.Empty;

    public int ChunkIndex { get; }

    public string SuspectSilo { get; } = string.Empty;
}
