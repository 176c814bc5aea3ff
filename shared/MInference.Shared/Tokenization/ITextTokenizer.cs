namespace MInference.Shared.Tokenization;

/// <summary>
/// Turns text into a model's token ids and back. One instance serves one model directory's
/// vocabulary; implementations are immutable and safe to share between threads.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>
    /// Number of ids the tokenizer can produce (base vocabulary plus added special tokens). Every id
    /// <see cref="Encode(string)"/> returns is below it; a model's embedding may be larger.
    /// </summary>
    int VocabularySize { get; }

    /// <summary>The beginning-of-sequence id, or null when the vocabulary has none.</summary>
    int? BeginOfSequenceId { get; }

    /// <summary>The end-of-sequence id, or null when the vocabulary has none.</summary>
    int? EndOfSequenceId { get; }

    /// <summary>
    /// True when <see cref="Encode(string)"/> prepends <see cref="BeginOfSequenceId"/>, following the
    /// model's own convention (its <c>tokenizer.json</c> post-processor or <c>tokenizer_config.json</c>),
    /// exactly as Hugging Face's <c>encode(text)</c> with its default <c>add_special_tokens=True</c>.
    /// </summary>
    bool AddsBeginOfSequence { get; }

    /// <summary>The ids a model is fed for <paramref name="text"/>, special tokens added per the model's convention.</summary>
    int[] Encode(string text);

    /// <summary>
    /// The ids for <paramref name="text"/>; with <paramref name="addSpecialTokens"/> false only the
    /// text's own tokens (Hugging Face's <c>add_special_tokens=False</c>).
    /// </summary>
    int[] Encode(string text, bool addSpecialTokens);

    /// <summary>
    /// The text of <paramref name="ids"/>. Special tokens (BOS, EOS, padding) are left out, so
    /// <c>Decode(Encode(s)) == s</c> for any string the vocabulary can represent.
    /// </summary>
    string Decode(ReadOnlySpan<int> ids);
}
