using System.Text;
using System.Text.Json;
using MInference.Shared.Tokenization;

namespace MInference.Shared.Tests.Tokenization;

public sealed class ByteLevelTokenizerTests
{
    private static readonly ByteLevelTokenizer s_tokenizer = ByteLevelTokenizer.Instance;

    public static TheoryData<string> Texts => new()
    {
        string.Empty,
        "Hello, world!",
        "  leading spaces\n\ttabs and\r\nnewlines  ",
        "naïve café, Zürich, Ångström",
        "中文字符和日本語のテキスト",
        "emoji 🎉👩‍👩‍👧 and flags 🇩🇪",
        "\0control\u0001bytes\u007f",
    };

    /// <summary>Decoding the ids of any text gives the text back, with and without BOS.</summary>
    [Theory]
    [MemberData(nameof(Texts))]
    public void Decode_of_encode_round_trips(string text)
    {
        Assert.Equal(text, s_tokenizer.Decode(s_tokenizer.Encode(text)));
        Assert.Equal(text, s_tokenizer.Decode(s_tokenizer.Encode(text, addSpecialTokens: false)));
    }

    /// <summary>Ids are BOS followed by the text's UTF-8 bytes, and all lie inside the vocabulary.</summary>
    [Theory]
    [MemberData(nameof(Texts))]
    public void Encode_gives_bos_then_utf8_bytes(string text)
    {
        var ids = s_tokenizer.Encode(text);

        int[] expected = [ByteLevelTokenizer.BeginOfTextId, .. Encoding.UTF8.GetBytes(text).Select(b => (int)b)];
        Assert.Equal(expected, ids);
        Assert.All(ids, id => Assert.InRange(id, 0, ByteLevelTokenizer.VocabularySize - 1));
    }

    /// <summary>Multi-byte characters give one id per byte: é is C3 A9, 🎉 is F0 9F 8E 89.</summary>
    [Fact]
    public void Multi_byte_characters_give_one_id_per_byte()
    {
        Assert.Equal([0xC3, 0xA9], s_tokenizer.Encode("é", addSpecialTokens: false));
        Assert.Equal([0xF0, 0x9F, 0x8E, 0x89], s_tokenizer.Encode("🎉", addSpecialTokens: false));
        Assert.Equal([ByteLevelTokenizer.BeginOfTextId], s_tokenizer.Encode(string.Empty));
        Assert.Empty(s_tokenizer.Encode(string.Empty, addSpecialTokens: false));
    }

    /// <summary>A special token's literal text encodes as its id (as Hugging Face added tokens do) and decodes to nothing.</summary>
    [Fact]
    public void Special_token_text_encodes_as_its_id()
    {
        var ids = s_tokenizer.Encode("a<|end_of_text|>b<|pad|>", addSpecialTokens: false);

        Assert.Equal(['a', ByteLevelTokenizer.EndOfTextId, 'b', ByteLevelTokenizer.PadId], ids);
        Assert.Equal("ab", s_tokenizer.Decode(ids));
    }

    /// <summary>Random byte-level id sequences decode; a cut multi-byte character becomes U+FFFD.</summary>
    [Fact]
    public void Decode_replaces_invalid_utf8()
    {
        Assert.Equal("a\uFFFD", s_tokenizer.Decode([(int)'a', 0xF0, 0x9F]));
    }

    /// <summary>Ids past the vocabulary are rejected with a message naming the id and the limit.</summary>
    [Fact]
    public void Decode_rejects_ids_outside_the_vocabulary()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => s_tokenizer.Decode([1, ByteLevelTokenizer.VocabularySize]));
        Assert.Contains("259", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => s_tokenizer.Decode([-1]));
    }

    /// <summary>
    /// The written tokenizer.json is the Hugging Face shape: 256 byte characters with ids equal to
    /// their byte, no merges, byte-level pre-tokenizer without regex, our three specials; and it is
    /// recognised as this scheme.
    /// </summary>
    [Fact]
    public void WriteFiles_writes_a_hugging_face_byte_level_tokenizer()
    {
        var directory = Directory.CreateTempSubdirectory("minference-bytelevel-");
        try
        {
            ByteLevelTokenizer.WriteFiles(directory.FullName);

            using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory.FullName, "tokenizer.json")));
            var root = json.RootElement;
            var vocab = root.GetProperty("model").GetProperty("vocab");
            Assert.Equal(256, vocab.EnumerateObject().Count());
            Assert.Equal((int)'A', vocab.GetProperty("A").GetInt32());
            Assert.Equal(32, vocab.GetProperty("Ġ").GetInt32());
            Assert.Equal(10, vocab.GetProperty("Ċ").GetInt32());
            Assert.Equal(0, vocab.GetProperty("Ā").GetInt32());
            Assert.Equal(0xAD, vocab.GetProperty("Ń").GetInt32());
            Assert.Equal(0, root.GetProperty("model").GetProperty("merges").GetArrayLength());
            Assert.False(root.GetProperty("pre_tokenizer").GetProperty("use_regex").GetBoolean());
            var added = root.GetProperty("added_tokens").EnumerateArray()
                .Select(t => (t.GetProperty("id").GetInt32(), t.GetProperty("content").GetString()))
                .ToArray();
            Assert.Equal([(256, "<|begin_of_text|>"), (257, "<|end_of_text|>"), (258, "<|pad|>")], added);
            Assert.True(ByteLevelTokenizer.Describes(root));

            using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory.FullName, "tokenizer_config.json")));
            Assert.Equal("<|begin_of_text|>", config.RootElement.GetProperty("bos_token").GetString());
            Assert.Equal("<|end_of_text|>", config.RootElement.GetProperty("eos_token").GetString());
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>Random strings of arbitrary code points (seeded) round-trip through encode and decode.</summary>
    [Fact]
    public void Random_strings_round_trip()
    {
        var random = new Random(20261123);
        for (var trial = 0; trial < 200; trial++)
        {
            var builder = new StringBuilder();
            var length = random.Next(0, 40);
            for (var i = 0; i < length; i++)
            {
                int codePoint;
                do
                {
                    codePoint = random.Next(0, 0x110000);
                }
                while (codePoint is >= 0xD800 and <= 0xDFFF);
                builder.Append(char.ConvertFromUtf32(codePoint));
            }

            var text = builder.ToString();
            Assert.Equal(text, s_tokenizer.Decode(s_tokenizer.Encode(text)));
        }
    }
}
