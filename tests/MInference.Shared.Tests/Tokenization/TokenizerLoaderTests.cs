using MInference.Shared.Models;
using MInference.Shared.Tokenization;
using MInference.Shared.Tokenization.Unicode;

namespace MInference.Shared.Tests.Tokenization;

public sealed class TokenizerLoaderTests
{
    public static TheoryData<string> Vocabularies => new() { TestVocabularies.Llama2, TestVocabularies.Qwen3 };

    /// <summary>A generated model's directory loads as the byte-level tokenizer.</summary>
    [Fact]
    public void Loads_the_byte_level_tokenizer_of_generated_models()
    {
        var directory = Directory.CreateTempSubdirectory("minference-tok-");
        try
        {
            ByteLevelTokenizer.WriteFiles(directory.FullName);

            var tokenizer = TokenizerLoader.Load(directory.FullName);

            Assert.Same(ByteLevelTokenizer.Instance, tokenizer);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>A Unigram tokenizer.json is refused with a message naming the file and the model type.</summary>
    [Fact]
    public void Unsupported_model_type_names_file_and_type()
    {
        var directory = Directory.CreateTempSubdirectory("minference-tok-");
        try
        {
            var path = Path.Combine(directory.FullName, "tokenizer.json");
            File.WriteAllText(path, """{"version":"1.0","added_tokens":[],"model":{"type":"Unigram","vocab":[["a",0.0]]}}""");

            var error = Assert.Throws<NotSupportedException>(() => TokenizerLoader.Load(directory.FullName));

            Assert.Contains(path, error.Message, StringComparison.Ordinal);
            Assert.Contains("Unigram", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>A directory without tokenizer.json, or with broken JSON, gets a ModelFormatException naming the file.</summary>
    [Fact]
    public void Missing_or_malformed_file_names_the_file()
    {
        var directory = Directory.CreateTempSubdirectory("minference-tok-");
        try
        {
            var path = Path.Combine(directory.FullName, "tokenizer.json");
            var missing = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(directory.FullName));
            Assert.Contains(path, missing.Message, StringComparison.Ordinal);

            File.WriteAllText(path, """{"model": {"type": "BPE", "vocab": {""");
            var malformed = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(directory.FullName));
            Assert.Contains(path, malformed.Message, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Llama-2-style SentencePiece BPE: ids read off the vocabulary by hand (▁Hello, ',', ▁world, '!'),
    /// BOS &lt;s&gt; = 1 prepended per the post-processor, byte fallback for a character outside the
    /// vocabulary (U+13000 → &lt;0xF0&gt;&lt;0x93&gt;&lt;0x80&gt;&lt;0x80&gt;, ids 3 + byte).
    /// </summary>
    [Fact]
    public void Llama2_vocabulary_gives_known_ids()
    {
        var tokenizer = TestVocabularies.Load(TestVocabularies.Llama2);

        Assert.Equal(32000, tokenizer.VocabularySize);
        Assert.Equal(1, tokenizer.BeginOfSequenceId);
        Assert.Equal(2, tokenizer.EndOfSequenceId);
        Assert.True(tokenizer.AddsBeginOfSequence);
        Assert.Equal([1, 22557, 28725, 1526, 28808], tokenizer.Encode("Hello, world!"));
        Assert.Equal([22557, 28725, 1526, 28808], tokenizer.Encode("Hello, world!", addSpecialTokens: false));
        Assert.Equal([1], tokenizer.Encode(string.Empty));
        var hieroglyph = tokenizer.Encode("𓀀", addSpecialTokens: false);
        Assert.Equal([28705, 3 + 0xF0, 3 + 0x93, 3 + 0x80, 3 + 0x80], hieroglyph);
    }

    /// <summary>
    /// Qwen3 byte-level BPE: ids read off the vocabulary by hand (Hello, ',', Ġworld, '!'), no BOS
    /// (the vocabulary has none), EOS from tokenizer_config.json, special tokens in text kept whole.
    /// </summary>
    [Fact]
    public void Qwen3_vocabulary_gives_known_ids()
    {
        var tokenizer = TestVocabularies.Load(TestVocabularies.Qwen3);

        Assert.Null(tokenizer.BeginOfSequenceId);
        Assert.False(tokenizer.AddsBeginOfSequence);
        Assert.Equal(151645, tokenizer.EndOfSequenceId);
        Assert.True(tokenizer.VocabularySize > 151645);
        Assert.Equal([9707, 11, 1879, 0], tokenizer.Encode("Hello, world!"));
        Assert.Equal([151644, 9707, 151645], tokenizer.Encode("<|im_start|>Hello<|im_end|>"));
        Assert.Empty(tokenizer.Encode(string.Empty));
    }

    /// <summary>
    /// Decoding the ids of every sample gives the sample back (NFC-normalized where the vocabulary
    /// normalizes). Samples holding special-token text are left out: decoding drops special tokens by design.
    /// </summary>
    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Decode_of_encode_round_trips_every_sample(string vocabulary)
    {
        var tokenizer = TestVocabularies.Load(vocabulary);
        foreach (var text in TokenizerFixture.Samples.Where(s => !s.Contains("<s>", StringComparison.Ordinal) && !s.Contains("<|", StringComparison.Ordinal)))
        {
            var expected = vocabulary == TestVocabularies.Qwen3 ? CanonicalComposition.Normalize(text) : text;
            Assert.Equal(expected, tokenizer.Decode(tokenizer.Encode(text)));
            Assert.All(tokenizer.Encode(text), id => Assert.InRange(id, 0, tokenizer.VocabularySize - 1));
        }
    }

    /// <summary>Decode rejects an id outside the vocabulary, naming the id.</summary>
    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Decode_rejects_unknown_ids(string vocabulary)
    {
        var tokenizer = TestVocabularies.Load(vocabulary);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([tokenizer.VocabularySize + 5]));

        Assert.Contains((tokenizer.VocabularySize + 5).ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }
}
