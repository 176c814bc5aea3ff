using System.Globalization;

namespace MInference.Engine.Planning;

/// <summary>One chunk of a plan: queries <c>[Start, Start + Length)</c> and its modelled cost.</summary>
public readonly record struct PlannedChunk(long Start, int Length, double Flops)
{
    public long End => Start + Length;
}

/// <summary>
/// Consecutive chunks covering a document <c>[0, DocumentTokens)</c> exactly once, in order, and the
/// per-chunk cost they were sized for. Pass <see cref="Lengths"/> to <c>ModelRunner.Prefill</c>.
/// </summary>
public sealed record ChunkPlan(long DocumentTokens, double TargetChunkFlops, IReadOnlyList<PlannedChunk> Chunks)
{
    public IReadOnlyList<int> Lengths => [.. Chunks.Select(c => c.Length)];

    /// <summary>For logs: chunk count, target, and the sizes (runs of equal sizes compressed, e.g. <c>4096 x3, 2048, 1024 x2</c>).</summary>
    public override string ToString()
    {
        var runs = new List<string>();
        for (var i = 0; i < Chunks.Count;)
        {
            var j = i;
            while (j < Chunks.Count && Chunks[j].Length == Chunks[i].Length)
            {
                j++;
            }

            runs.Add(j - i > 1 ? string.Create(CultureInfo.InvariantCulture, $"{Chunks[i].Length} x{j - i}") : Chunks[i].Length.ToString(CultureInfo.InvariantCulture));
            i = j;
        }

        return string.Create(
            CultureInfo.InvariantCulture,
            $"{Chunks.Count} chunks over {DocumentTokens} tokens, target {TargetChunkFlops / 1e9:F1} GFLOP each: {string.Join(", ", runs)}");
    }
}
