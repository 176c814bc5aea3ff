namespace MInference.Engine.Evaluation;

/// <summary>
/// What the model generated for <see cref="Sample"/> (greedy, as many tokens as the answer has), whether it
/// matched exactly, and the pre-fill's attention density when it was measured (covered / causal pairs).
/// </summary>
public sealed record RetrievalOutcome(RetrievalSample Sample, int PromptTokens, string Generated, bool Correct, double? Density);
