namespace MInference.Engine.Planning;

/// <summary>
/// Dynamic chunk sizes for chunked pre-fill (issue 7 item 2; DESIGN section 4, "as SGLang does"): a
/// chunk attends over everything before it, so at a fixed size later chunks cost more; the planner makes
/// each chunk as large as it can be without its modelled cost (<see cref="ChunkCostModel"/>) passing the
/// target, so chunks cost about the same and shrink as the prefix grows (for dense heads; budgeted sparse
/// heads stop growing once their cap is reached, so their chunks level off).
/// <para>Rules: going from the document's start, each chunk is the largest multiple of 64 tokens in
/// <c>[MinChunkTokens, MaxChunkTokens]</c> whose cost is at most the target (<c>MinChunkTokens</c> when even that
/// costs more); the last chunk takes what is left, possibly fewer tokens. So the chunks cover the document
/// exactly once, every chunk but the last starts and ends on a 64-token boundary, sizes never grow while
/// the cost of a fixed size grows with its start (always true of this model), and a chunk not clamped by
/// the bounds costs between the target minus the cost of 64 more tokens and the target.</para>
/// <para>Chunking does not change dense or A-shape results (each query sees the same keys); VS and
/// block-sparse estimate their index per chunk (DESIGN section 4), so their outputs depend on the chunks.</para>
/// </summary>
public static class ChunkPlanner
{
    /// <summary>Plans chunks of about <paramref name="targetChunkFlops"/> each over <paramref name="documentTokens"/> tokens.</summary>
    public static ChunkPlan Plan(ChunkCostModel model, long documentTokens, double targetChunkFlops, ChunkPlannerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(documentTokens, 1);
        if (!(targetChunkFlops > 0) || double.IsInfinity(targetChunkFlops))
        {
            throw new ArgumentOutOfRangeException(nameof(targetChunkFlops), targetChunkFlops, "the target chunk cost must be a positive, finite number of FLOPs");
        }

        options ??= new ChunkPlannerOptions();
        options.Validate();
        const int step = ChunkPlannerOptions.Granularity;
        var chunks = new List<PlannedChunk>();
        long start = 0;
        while (start < documentTokens)
        {
            // Largest k in [min/64, max/64] with cost(start, 64 k) <= target: the cost rises with k, so bisect.
            int low = options.MinChunkTokens / step, high = options.MaxChunkTokens / step;
            while (low < high)
            {
                var middle = (low + high + 1) / 2;
                if (model.ChunkFlops(start, (long)middle * step) <= targetChunkFlops)
                {
                    low = middle;
                }
                else
                {
                    high = middle - 1;
                }
            }

            var length = (int)Math.Min((long)low * step, documentTokens - start);
            chunks.Add(new PlannedChunk(start, length, model.ChunkFlops(start, length)));
            start += length;
        }

        return new ChunkPlan(documentTokens, targetChunkFlops, chunks);
    }

    /// <summary>
    /// The target that splits the document into about <paramref name="chunks"/> chunks of equal cost: the
    /// document's cost as one span, divided by the count. Chunking adds no attention work (a chunk's queries
    /// see the same keys), only estimation and per-chunk terms, so the plan ends up with about that many
    /// chunks (more where the size bounds clamp).
    /// </summary>
    public static double TargetForChunkCount(ChunkCostModel model, long documentTokens, int chunks)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(documentTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunks, 1);
        return model.ChunkFlops(0, documentTokens) / chunks;
    }
}
