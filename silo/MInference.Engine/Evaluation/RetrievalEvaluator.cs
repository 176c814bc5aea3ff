using MInference.Shared.Tokenization;

namespace MInference.Engine.Evaluation;

/// <summary>
/// Runs retrieval samples through the normal engine: the whole prompt pre-fills as one span (so the
/// runner's sparse patterns apply to it as in the paper), then greedy decoding produces as many tokens
/// as the expected answer has (decode steps run dense). A sample is correct when the decoded text
/// equals the answer exactly. When the runner's shards run on <paramref name="meter"/>, each outcome
/// carries the attention density its pre-fill reached.
/// </summary>
public sealed class RetrievalEvaluator(ModelRunner runner, ITextTokenizer tokenizer, DensityMeasuringBackend? meter = null)
{
    public RetrievalOutcome Run(RetrievalSample sample, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sample);
        var promptIds = tokenizer.Encode(sample.Prompt);
        var answerTokens = tokenizer.Encode(sample.Answer, addSpecialTokens: false).Length;
        var sequence = runner.CreateSequence(promptIds.Length + answerTokens);
        try
        {
            meter?.Reset();
            var logits = runner.Prefill(sequence, promptIds, promptIds.Length, cancellationToken: cancellationToken);
            var density = meter?.Density;
            var generated = runner.DecodeGreedy(sequence, logits, answerTokens, cancellationToken);
            var text = tokenizer.Decode([.. generated]);
            return new RetrievalOutcome(sample, promptIds.Length, text, string.Equals(text, sample.Answer, StringComparison.Ordinal), density);
        }
        finally
        {
            foreach (var cache in sequence)
            {
                cache.Dispose();
            }
        }
    }
}
