using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;
using MInference.Shared.Tokenization.Unicode;

namespace MInference.Shared.Tokenization;

/// <summary>
/// A Hugging Face BPE tokenizer (<c>tokenizer.json</c>) on top of Microsoft.ML.Tokenizers'
/// <see cref="BpeTokenizer"/>, which does the pre-tokenizer split and the merges. The steps of the
/// Hugging Face pipeline that <see cref="BpeTokenizer"/> does not model are done here, in Hugging
/// Face's order: added tokens are cut out first, each stretch between them is normalized (NFC, or
/// SentencePiece's <c>▁</c> handling) on its own, byte fallback replaces unknown characters by
/// <c>&lt;0xNN&gt;</c> tokens, <c>ignore_merges</c> emits whole words found in the vocabulary, and
/// the post-processor's special tokens are added around the result.
/// </summary>
internal sealed class HuggingFaceBpeTokenizer : ITextTokenizer
{
    private const char Metaspace = '\u2581';

    private readonly HuggingFaceBpeSettings _settings;
    private readonly BpeTokenizer _bpe;
    private readonly AddedTokenSplitter _addedTokens;
    private readonly string?[] _idToToken;
    private readonly bool[] _isSpecial;
    private readonly bool[] _isAdded;
    private readonly int[] _byteTokenIds;
    private readonly int _unknownId;

    public HuggingFaceBpeTokenizer(HuggingFaceBpeSettings settings)
    {
        _settings = settings;
        var size = Math.Max(
            settings.Vocabulary.Count == 0 ? 0 : settings.Vocabulary.Values.Max() + 1,
            settings.AddedTokens.Count == 0 ? 0 : settings.AddedTokens.Max(t => t.Id) + 1);
        VocabularySize = size;
        _idToToken = new string?[size];
        _isSpecial = new bool[size];
        _isAdded = new bool[size];
        foreach (var (token, id) in settings.Vocabulary)
        {
            _idToToken[id] = token;
        }

        foreach (var (content, id, special) in settings.AddedTokens)
        {
            _idToToken[id] = content;
            _isAdded[id] = true;
            _isSpecial[id] = special;
        }

        _byteTokenIds = new int[256];
        for (var b = 0; b < 256; b++)
        {
            _byteTokenIds[b] = settings.ByteFallback && settings.Vocabulary.TryGetValue(ByteTokenName(b), out var id) ? id : -1;
        }

        _unknownId = settings.UnknownToken is not null && settings.Vocabulary.TryGetValue(settings.UnknownToken, out var unknownId)
            ? unknownId
            : -1;

        _addedTokens = new AddedTokenSplitter(settings.AddedTokens.Select(t => KeyValuePair.Create(t.Content, t.Id)));

        _bpe = BpeTokenizer.Create(new BpeOptions(settings.Vocabulary)
        {
            Merges = settings.Merges,
            ByteLevel = settings.ByteLevel,
            PreTokenizer = settings.SplitPattern is null ? null : new RegexPreTokenizer(settings.SplitPattern, null),
            UnknownToken = _unknownId >= 0 ? settings.UnknownToken : null,

            // Byte fallback needs one unknown token per character, so it can put that character's bytes in its place.
            FuseUnknownTokens = settings.FuseUnknownTokens && !settings.ByteFallback,
        });
    }

    public int VocabularySize { get; }

    public int? BeginOfSequenceId => _settings.BeginOfSequenceId;

    public int? EndOfSequenceId => _settings.EndOfSequenceId;

    public bool AddsBeginOfSequence => _settings.BeginOfSequenceId is { } bos && _settings.PrefixIds.Contains(bos);

    public int[] Encode(string text) => Encode(text, addSpecialTokens: true);

    public int[] Encode(string text, bool addSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens)
        {
            ids.AddRange(_settings.PrefixIds);
        }

        var atStart = true;
        _addedTokens.Split(
            text,
            piece =>
            {
                EncodeText(piece, atStart, ids);
                atStart = false;
            },
            id =>
            {
                ids.Add(id);
                atStart = false;
            });

        if (addSpecialTokens)
        {
            ids.AddRange(_settings.SuffixIds);
        }

        return [.. ids];
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)VocabularySize || _idToToken[id] is not { } token)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(ids), id, $"token id {id} is not in the vocabulary of {_settings.SourcePath} ({VocabularySize} ids)");
            }

            if (_isSpecial[id])
            {
                continue;
            }

            if (_isAdded[id])
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(token));
            }
            else if (_settings.ByteLevel)
            {
                AppendByteLevelToken(token, bytes);
            }
            else if (_settings.ByteFallback && TryParseByteToken(token, out var value))
            {
                bytes.Add(value);
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(token.Replace(Metaspace, ' ')));
            }
        }

        // Invalid UTF-8 becomes U+FFFD, as Hugging Face decoders do.
        var text = Encoding.UTF8.GetString([.. bytes]);

        // The decoder removes the one space the normalizer put before the text.
        return _settings.Prepend != MetaspacePrepend.Never && text.StartsWith(' ') ? text[1..] : text;
    }

    private void EncodeText(string piece, bool atStart, List<int> ids)
    {
        var normalized = Normalize(piece, atStart);
        if (normalized.Length == 0)
        {
            return;
        }

        if (_settings.SplitPattern is null)
        {
            AppendWord(normalized, considerPreTokenization: false, ids);
            return;
        }

        var hasSurrogates = normalized.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;
        if (!_settings.IgnoreMerges && !hasSurrogates)
        {
            AppendWord(normalized, considerPreTokenization: true, ids);
            return;
        }

        foreach (var (offset, length) in hasSurrogates ? PreTokenizeCodePoints(normalized) : _bpe.PreTokenizer!.PreTokenize(normalized))
        {
            var word = normalized.Substring(offset, length);
            if (_settings.IgnoreMerges
                && _settings.Vocabulary.TryGetValue(_settings.ByteLevel ? ToByteLevelCharacters(word) : word, out var id))
            {
                ids.Add(id);
            }
            else
            {
                AppendWord(word, considerPreTokenization: false, ids);
            }
        }
    }

    /// <summary>
    /// Splits like the pre-tokenizer's regex would on code points. .NET's regex sees a character
    /// outside the BMP as two surrogates, neither of them \p{L} or \p{N}, where Hugging Face's
    /// (Rust/Oniguruma) regex sees one letter or digit; so the regex runs over a stand-in string with
    /// one BMP character of the same class per code point, and the splits are mapped back.
    /// </summary>
    private IEnumerable<(int Offset, int Length)> PreTokenizeCodePoints(string text)
    {
        var standIn = new StringBuilder(text.Length);
        var starts = new List<int>(text.Length + 1);
        var index = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            starts.Add(index);
            standIn.Append(rune.IsBmp ? (char)rune.Value : StandInFor(Rune.GetUnicodeCategory(rune)));
            index += rune.Utf16SequenceLength;
        }

        starts.Add(index);
        foreach (var (offset, length) in _bpe.PreTokenizer!.PreTokenize(standIn.ToString()))
        {
            yield return (starts[offset], starts[offset + length] - starts[offset]);
        }
    }

    private static char StandInFor(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => '\u4E00',
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => '\u0660',
        _ => '\u00A9',
    };

    private void AppendWord(string text, bool considerPreTokenization, List<int> ids)
    {
        if (!_settings.ByteFallback || _unknownId < 0)
        {
            ids.AddRange(_bpe.EncodeToIds(text, considerPreTokenization, considerNormalization: false));
            return;
        }

        var tokens = _bpe.EncodeToTokens(text, out _, considerPreTokenization, considerNormalization: false);
        foreach (var token in tokens)
        {
            if (token.Id != _unknownId)
            {
                ids.Add(token.Id);
                continue;
            }

            var (offset, length) = token.Offset.GetOffsetAndLength(text.Length);
            var bytes = Encoding.UTF8.GetBytes(text.Substring(offset, length));
            if (bytes.All(b => _byteTokenIds[b] >= 0))
            {
                ids.AddRange(bytes.Select(b => _byteTokenIds[b]));
            }
            else
            {
                ids.Add(_unknownId);
            }
        }
    }

    private string Normalize(string piece, bool atStart)
    {
        var text = _settings.NormalizeNfc ? CanonicalComposition.Normalize(piece) : piece;
        if (_settings.ReplaceSpaceWithMetaspace)
        {
            text = text.Replace(' ', Metaspace);
        }

        var prepend = _settings.Prepend == MetaspacePrepend.Always || (_settings.Prepend == MetaspacePrepend.First && atStart);
        return prepend && text.Length > 0 ? Metaspace + text : text;
    }

    private static string ToByteLevelCharacters(string word)
    {
        var characters = ByteLevelAlphabet.ByteToCharacter;
        var bytes = Encoding.UTF8.GetBytes(word);
        return string.Create(bytes.Length, bytes, (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                span[i] = characters[source[i]];
            }
        });
    }

    private static void AppendByteLevelToken(string token, List<byte> bytes)
    {
        var map = ByteLevelAlphabet.CharacterToByte;
        foreach (var c in token)
        {
            if (map.TryGetValue(c, out var b))
            {
                bytes.Add(b);
            }
            else
            {
                // Not a byte-level character (a hand-added vocabulary entry): keep it as text.
                bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
            }
        }
    }

    internal static string ByteTokenName(int value) => string.Create(CultureInfo.InvariantCulture, $"<0x{value:X2}>");

    private static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
