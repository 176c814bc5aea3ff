using MInference.Shared.Tokenization;

namespace MInference.Shared.Tests.Tokenization;

/// <summary>Small hand-written tokenizer.json files that pin down options the real test vocabularies do not use.</summary>
public sealed class CraftedTokenizerTests
{
    /// <summary>
    /// ignore_merges (Llama-3): a pre-tokenized word found whole in the vocabulary is one token even
    /// though no merge builds it; without the flag the merges decide ("abc" → a + bc).
    /// </summary>
    [Theory]
    [InlineData(true, new[] { 4, 5, 0, 3 })]
    [InlineData(false, new[] { 0, 3, 5, 0, 3 })]
    public void Ignore_merges_emits_whole_words(bool ignoreMerges, int[] expected)
    {
        var json = $$$"""
            {"version": "1.0", "added_tokens": [], "normalizer": null,
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
             "post_processor": null, "decoder": {"type": "ByteLevel"},
             "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "bc": 3, "abc": 4, "Ġ": 5},
                       "merges": ["b c"], "ignore_merges": {{{(ignoreMerges ? "true" : "false")}}}}}
            """;

        var tokenizer = LoadFrom(json);

        Assert.Equal(expected, tokenizer.Encode("abc abc"));
        Assert.Equal("abc abc", tokenizer.Decode(expected));
    }

    /// <summary>
    /// A Metaspace pre-tokenizer (newer SentencePiece files): spaces become '▁', '▁' is prepended only
    /// at the start of the input (prepend_scheme first, so not after an added token), words split at
    /// each '▁', a character outside the vocabulary falls back to its byte token, and the template adds BOS.
    /// </summary>
    [Fact]
    public void Metaspace_pre_tokenizer_with_byte_fallback()
    {
        const string json = """
            {"version": "1.0",
             "added_tokens": [{"id": 1, "content": "<s>", "special": true, "normalized": false}],
             "normalizer": null,
             "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
             "post_processor": {"type": "TemplateProcessing",
                                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
             "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
             "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true,
                       "vocab": {"<unk>": 0, "<s>": 1, "▁": 2, "h": 3, "i": 4, "▁h": 5, "▁hi": 6, "<0x21>": 7},
                       "merges": ["▁ h", "▁h i"]}}
            """;

        var tokenizer = LoadFrom(json);

        Assert.True(tokenizer.AddsBeginOfSequence);
        Assert.Equal([1, 6, 6, 7], tokenizer.Encode("hi hi!"));
        Assert.Equal([1, 3, 4], tokenizer.Encode("<s>hi", addSpecialTokens: false));
        Assert.Equal("hi hi!", tokenizer.Decode([1, 6, 6, 7]));
    }

    private static ITextTokenizer LoadFrom(string tokenizerJson)
    {
        var directory = Directory.CreateTempSubdirectory("minference-crafted-");
        try
        {
            File.WriteAllText(Path.Combine(directory.FullName, "tokenizer.json"), tokenizerJson);
            return TokenizerLoader.Load(directory.FullName);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
