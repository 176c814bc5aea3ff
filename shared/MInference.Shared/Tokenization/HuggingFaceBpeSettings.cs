using System.Text.RegularExpressions;

namespace MInference.Shared.Tokenization;

/// <summary>
/// What <see cref="TokenizerLoader"/> read from a <c>tokenizer.json</c> (and <c>tokenizer_config.json</c>)
/// for a BPE vocabulary: everything <see cref="HuggingFaceBpeTokenizer"/> needs, already validated.
/// </summary>
internal sealed record HuggingFaceBpeSettings
{
    public required string SourcePath { get; init; }

    public required IReadOnlyDictionary<string, int> Vocabulary { get; init; }

    /// <summary>Merges as "left right", in rank order.</summary>
    public required IReadOnlyList<string> Merges { get; init; }

    /// <summary>Added tokens (content → id) and whether each is special (left out of decoded text).</summary>
    public required IReadOnlyList<(string Content, int Id, bool Special)> AddedTokens { get; init; }

    /// <summary>True for GPT-2-style byte-level vocabularies (Llama-3, Qwen2); false for SentencePiece-style (Llama-2).</summary>
    public required bool ByteLevel { get; init; }

    /// <summary>The pre-tokenizer's split pattern, or null when the whole text is one word.</summary>
    public Regex? SplitPattern { get; init; }

    public bool NormalizeNfc { get; init; }

    public MetaspacePrepend Prepend { get; init; }

    /// <summary>SentencePiece vocabularies replace spaces by <c>▁</c> before BPE.</summary>
    public bool ReplaceSpaceWithMetaspace { get; init; }

    /// <summary>Characters missing from the vocabulary become their UTF-8 bytes' <c>&lt;0xNN&gt;</c> tokens.</summary>
    public bool ByteFallback { get; init; }

    /// <summary>A pre-tokenized word found whole in the vocabulary is emitted without merging (Llama-3).</summary>
    public bool IgnoreMerges { get; init; }

    public string? UnknownToken { get; init; }

    public bool FuseUnknownTokens { get; init; }

    /// <summary>Ids the post-processor puts before / after the text's own ids when special tokens are added.</summary>
    public required IReadOnlyList<int> PrefixIds { get; init; }

    public required IReadOnlyList<int> SuffixIds { get; init; }

    public int? BeginOfSequenceId { get; init; }

    public int? EndOfSequenceId { get; init; }
}
