namespace MInference.Kernels.Cuda;

/// <summary>
/// The <c>k</c> largest logits of one position, best first (equal logits: lower token id first), and
/// the log of the softmax normaliser over the whole vocabulary, so probabilities need no full row.
/// </summary>
public sealed record TopLogits(int[] Ids, float[] Logits, float LogSumExp)
{
    /// <summary>Softmax probability of the pick at <paramref name="rank"/> (0 = best).</summary>
    public double Probability(int rank) => Math.Exp((double)Logits[rank] - LogSumExp);
}
