namespace MInference.Engine.Evaluation;

/// <summary>The synthetic long-context retrieval tasks of the accuracy testbed (deploy/accuracy/tasks.py).</summary>
public enum RetrievalTaskKind
{
    /// <summary>Needle in a haystack: one "special magic number" sentence at a depth of filler text.</summary>
    Niah,

    /// <summary>Multi-key needle: four needles with different keys; one is asked.</summary>
    Multi,

    /// <summary>Key-value retrieval: a JSON object of UUID keys and values; one key is asked.</summary>
    Kv,

    /// <summary>Variable tracking: two chains of three assignments; the end of one chain is asked.</summary>
    Vt,
}
