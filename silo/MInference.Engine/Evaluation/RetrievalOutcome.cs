namespace MInference.Engine.Evaluation;

/// <summary>What the model generated for <see cref="Sample"/> (greedy, as many tokens as the answer has) and whether it matched exactly.</summary>
public sealed record RetrievalOutcome(RetrievalSample Sample, int PromptTokens, string Generated, bool Correct);
