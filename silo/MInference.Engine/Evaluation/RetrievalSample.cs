namespace MInference.Engine.Evaluation;

/// <summary>
/// One evaluation prompt: <see cref="Prompt"/> (without BOS) must be followed by <see cref="Answer"/>
/// under greedy decoding. <see cref="Tokens"/> is the nominal length (BOS, prompt and answer) and
/// <see cref="Depth"/> where the asked fact sits, 0 = start of the context, 1 = its end.
/// </summary>
public sealed record RetrievalSample(RetrievalTaskKind Task, int Tokens, double Depth, string Prompt, string Answer);
