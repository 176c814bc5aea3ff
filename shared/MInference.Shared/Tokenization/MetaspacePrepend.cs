namespace MInference.Shared.Tokenization;

/// <summary>When a SentencePiece-style vocabulary puts a <c>▁</c> before a piece of text.</summary>
internal enum MetaspacePrepend
{
    /// <summary>Never (byte-level vocabularies).</summary>
    Never,

    /// <summary>Before every stretch of text between added tokens (Llama-2's <c>Prepend</c> normalizer, <c>prepend_scheme: always</c>).</summary>
    Always,

    /// <summary>Only before the stretch that starts the input (<c>prepend_scheme: first</c>).</summary>
    First,
}
