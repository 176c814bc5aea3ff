namespace MInference.Shared.Generation;

/// <summary>How far a generation has come: tensor bytes written of the total.</summary>
public readonly record struct ModelGenerationProgress(long BytesWritten, long TotalBytes)
{
    public double Fraction => TotalBytes == 0 ? 1 : (double)BytesWritten / TotalBytes;
}
