namespace MInference.Shared.Patterns;

/// <summary>The attention pattern a query head runs during pre-fill (DESIGN section 4).</summary>
public enum SparsePatternKind
{
    /// <summary>Causal dense attention.</summary>
    Dense,

    /// <summary>Static streaming pattern: the first <c>n_init</c> keys plus a local window of <c>n_local</c> keys.</summary>
    AShape,

    /// <summary>Dynamic vertical columns plus slash diagonals, estimated per input from the last 64 queries.</summary>
    VerticalSlash,

    /// <summary>Dynamic top-k key blocks of 64 per query block of 64, from mean-pooled Q and K.</summary>
    BlockSparse,
}
