using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace MInference.Shared.Tokenization;

/// <summary>
/// The tokenizer of generated models: one token per UTF-8 byte, so any text encodes without an
/// unknown token and the vocabulary is small enough for tiny test models.
/// </summary>
/// <remarks>
/// Scheme (version 1):
/// <list type="bullet">
/// <item>ids 0..255 are the UTF-8 bytes 0x00..0xFF;</item>
/// <item>id 256 <c>&lt;|begin_of_text|&gt;</c> (BOS, prepended by <see cref="Encode(string)"/>),
/// 257 <c>&lt;|end_of_text|&gt;</c> (EOS), 258 <c>&lt;|pad|&gt;</c>;</item>
/// <item>a special token's literal text inside the input encodes as that special id, as Hugging Face
/// does for added tokens.</item>
/// </list>
/// <see cref="WriteFiles"/> writes the same scheme as a Hugging Face <c>tokenizer.json</c> (a BPE model
/// without merges over GPT-2's byte-to-character alphabet, byte-level pre-tokenizer without regex
/// splitting, a template that prepends BOS), so Python <c>tokenizers</c> and <c>transformers</c> give
/// the same ids.
/// </remarks>
public sealed class ByteLevelTokenizer : ITextTokenizer
{
    public const int ByteTokenCount = 256;

    public const int BeginOfTextId = 256;

    public const int EndOfTextId = 257;

    public const int PadId = 258;

    public const int VocabularySize = 259;

    public const string BeginOfTextToken = "<|begin_of_text|>";

    public const string EndOfTextToken = "<|end_of_text|>";

    public const string PadToken = "<|pad|>";

    public const string TokenizerFileName = "tokenizer.json";

    public const string TokenizerConfigFileName = "tokenizer_config.json";

    /// <summary>The special tokens in id order, starting at <see cref="ByteTokenCount"/>.</summary>
    private static readonly string[] s_specialTokens = [BeginOfTextToken, EndOfTextToken, PadToken];

    public static ByteLevelTokenizer Instance { get; } = new();

    int ITextTokenizer.VocabularySize => VocabularySize;

    public int? BeginOfSequenceId => BeginOfTextId;

    public int? EndOfSequenceId => EndOfTextId;

    public bool AddsBeginOfSequence => true;

    public int[] Encode(string text) => Encode(text, addSpecialTokens: true);

    public int[] Encode(string text, bool addSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length + 1);
        if (addSpecialTokens)
        {
            ids.Add(BeginOfTextId);
        }

        var start = 0;
        while (start < text.Length)
        {
            var (position, specialId) = FindNextSpecialToken(text, start);
            AppendBytes(ids, text.AsSpan(start, position - start));
            if (specialId < 0)
            {
                break;
            }

            ids.Add(specialId);
            start = position + s_specialTokens[specialId - ByteTokenCount].Length;
        }

        return [.. ids];
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new byte[ids.Length];
        var count = 0;
        foreach (var id in ids)
        {
            if ((uint)id >= VocabularySize)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(ids), id, $"token id {id} is outside the byte-level vocabulary of {VocabularySize} ids");
            }

            if (id < ByteTokenCount)
            {
                bytes[count++] = (byte)id;
            }
        }

        // Invalid UTF-8 (e.g. a sequence cut mid-character) becomes U+FFFD, as Hugging Face's decoder does.
        return Encoding.UTF8.GetString(bytes, 0, count);
    }

    /// <summary>
    /// Writes <c>tokenizer.json</c> (Hugging Face format) and <c>tokenizer_config.json</c> for this
    /// scheme into <paramref name="directory"/>, replacing existing files.
    /// </summary>
    public static void WriteFiles(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, TokenizerFileName), BuildTokenizerJson());
        File.WriteAllBytes(Path.Combine(directory, TokenizerConfigFileName), BuildTokenizerConfigJson());
    }

    /// <summary>
    /// True when a parsed <c>tokenizer.json</c> describes exactly this scheme: a merge-less BPE whose
    /// vocabulary maps every byte's GPT-2 character to the byte's value, with our special tokens.
    /// </summary>
    public static bool Describes(JsonElement tokenizerJson)
    {
        if (!tokenizerJson.TryGetProperty("model", out var model)
            || !model.TryGetProperty("type", out var type) || type.GetString() != "BPE"
            || !model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object
            || (model.TryGetProperty("merges", out var merges) && merges.GetArrayLength() != 0))
        {
            return false;
        }

        var characters = ByteLevelAlphabet.ByteToCharacter;
        var seen = 0;
        foreach (var entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number
                || !entry.Value.TryGetInt32(out var id)
                || (uint)id >= ByteTokenCount
                || entry.Name.Length != 1
                || entry.Name[0] != characters[id])
            {
                return false;
            }

            seen++;
        }

        if (seen != ByteTokenCount || !tokenizerJson.TryGetProperty("added_tokens", out var added))
        {
            return false;
        }

        var specials = 0;
        foreach (var token in added.EnumerateArray())
        {
            var id = token.GetProperty("id").GetInt32();
            var content = token.GetProperty("content").GetString();
            if (id < ByteTokenCount || id >= VocabularySize || content != s_specialTokens[id - ByteTokenCount])
            {
                return false;
            }

            specials++;
        }

        return specials == s_specialTokens.Length;
    }

    private static (int Position, int SpecialId) FindNextSpecialToken(string text, int start)
    {
        var best = (Position: text.Length, SpecialId: -1);
        for (var i = 0; i < s_specialTokens.Length; i++)
        {
            var position = text.IndexOf(s_specialTokens[i], start, StringComparison.Ordinal);
            if (position >= 0 && position < best.Position)
            {
                best = (position, ByteTokenCount + i);
            }
        }

        return best;
    }

    private static void AppendBytes(List<int> ids, ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        // Lone surrogates become U+FFFD's bytes, the same replacement Python's encoder applies.
        var bytes = Encoding.UTF8.GetBytes(text.ToArray());
        foreach (var b in bytes)
        {
            ids.Add(b);
        }
    }

    private static JsonWriterOptions WriterOptions => new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static byte[] BuildTokenizerJson()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("version", "1.0");
            writer.WriteNull("truncation");
            writer.WriteNull("padding");

            writer.WriteStartArray("added_tokens");
            for (var i = 0; i < s_specialTokens.Length; i++)
            {
                writer.WriteStartObject();
                writer.WriteNumber("id", ByteTokenCount + i);
                writer.WriteString("content", s_specialTokens[i]);
                writer.WriteBoolean("single_word", false);
                writer.WriteBoolean("lstrip", false);
                writer.WriteBoolean("rstrip", false);
                writer.WriteBoolean("normalized", false);
                writer.WriteBoolean("special", true);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteNull("normalizer");

            // No regex splitting: the whole text is one "word" whose characters are all tokens.
            writer.WriteStartObject("pre_tokenizer");
            writer.WriteString("type", "ByteLevel");
            writer.WriteBoolean("add_prefix_space", false);
            writer.WriteBoolean("trim_offsets", true);
            writer.WriteBoolean("use_regex", false);
            writer.WriteEndObject();

            WriteBeginOfTextTemplate(writer);

            writer.WriteStartObject("decoder");
            writer.WriteString("type", "ByteLevel");
            writer.WriteBoolean("add_prefix_space", false);
            writer.WriteBoolean("trim_offsets", true);
            writer.WriteBoolean("use_regex", false);
            writer.WriteEndObject();

            writer.WriteStartObject("model");
            writer.WriteString("type", "BPE");
            writer.WriteNull("dropout");
            writer.WriteNull("unk_token");
            writer.WriteNull("continuing_subword_prefix");
            writer.WriteNull("end_of_word_suffix");
            writer.WriteBoolean("fuse_unk", false);
            writer.WriteBoolean("byte_fallback", false);
            writer.WriteBoolean("ignore_merges", false);
            writer.WriteStartObject("vocab");
            var characters = ByteLevelAlphabet.ByteToCharacter;
            for (var b = 0; b < ByteTokenCount; b++)
            {
                writer.WriteNumber(characters[b].ToString(), b);
            }

            writer.WriteEndObject();
            writer.WriteStartArray("merges");
            writer.WriteEndArray();
            writer.WriteEndObject();

            writer.WriteEndObject();
        }

        return stream.ToArray();
    }

    /// <summary>The post-processor Llama-3 uses: BOS before each sequence when special tokens are added.</summary>
    private static void WriteBeginOfTextTemplate(Utf8JsonWriter writer)
    {
        writer.WriteStartObject("post_processor");
        writer.WriteString("type", "TemplateProcessing");
        writer.WriteStartArray("single");
        WriteTemplatePiece(writer, "SpecialToken", BeginOfTextToken, 0);
        WriteTemplatePiece(writer, "Sequence", "A", 0);
        writer.WriteEndArray();
        writer.WriteStartArray("pair");
        WriteTemplatePiece(writer, "SpecialToken", BeginOfTextToken, 0);
        WriteTemplatePiece(writer, "Sequence", "A", 0);
        WriteTemplatePiece(writer, "SpecialToken", BeginOfTextToken, 1);
        WriteTemplatePiece(writer, "Sequence", "B", 1);
        writer.WriteEndArray();
        writer.WriteStartObject("special_tokens");
        writer.WriteStartObject(BeginOfTextToken);
        writer.WriteString("id", BeginOfTextToken);
        writer.WriteStartArray("ids");
        writer.WriteNumberValue(BeginOfTextId);
        writer.WriteEndArray();
        writer.WriteStartArray("tokens");
        writer.WriteStringValue(BeginOfTextToken);
        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void WriteTemplatePiece(Utf8JsonWriter writer, string kind, string id, int typeId)
    {
        writer.WriteStartObject();
        writer.WriteStartObject(kind);
        writer.WriteString("id", id);
        writer.WriteNumber("type_id", typeId);
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static byte[] BuildTokenizerConfigJson()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
            writer.WriteString("bos_token", BeginOfTextToken);
            writer.WriteString("eos_token", EndOfTextToken);
            writer.WriteString("pad_token", PadToken);
            writer.WriteBoolean("add_bos_token", true);
            writer.WriteBoolean("add_eos_token", false);

            // Decoding must give back the exact text; transformers' space clean-up would not.
            writer.WriteBoolean("clean_up_tokenization_spaces", false);
            writer.WriteStartObject("added_tokens_decoder");
            for (var i = 0; i < s_specialTokens.Length; i++)
            {
                writer.WriteStartObject((ByteTokenCount + i).ToString(System.Globalization.CultureInfo.InvariantCulture));
                writer.WriteString("content", s_specialTokens[i]);
                writer.WriteBoolean("lstrip", false);
                writer.WriteBoolean("normalized", false);
                writer.WriteBoolean("rstrip", false);
                writer.WriteBoolean("single_word", false);
                writer.WriteBoolean("special", true);
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        return stream.ToArray();
    }
}
