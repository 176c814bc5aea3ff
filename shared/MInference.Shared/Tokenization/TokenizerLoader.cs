using System.Text.Json;
using System.Text.RegularExpressions;
using MInference.Shared.Models;

namespace MInference.Shared.Tokenization;

/// <summary>
/// Loads the tokenizer of a Hugging Face model directory from its <c>tokenizer.json</c> (and
/// <c>tokenizer_config.json</c> when present).
/// </summary>
/// <remarks>
/// Supported: our generated models' <see cref="ByteLevelTokenizer"/>; byte-level BPE (Llama-3,
/// Qwen2/2.5/3: a <c>Split</c> regex or GPT-2's pattern, then <c>ByteLevel</c>, optional NFC); and
/// SentencePiece BPE (Llama-2, Mistral, Yi: <c>▁</c> for spaces through the <c>Prepend</c>/<c>Replace</c>
/// normalizers or a <c>Metaspace</c> pre-tokenizer, byte fallback to <c>&lt;0xNN&gt;</c>). Anything
/// else (Unigram, WordPiece, other normalizers) gets a <see cref="NotSupportedException"/> naming the
/// file and the part it cannot handle.
/// <para>
/// Special tokens around the text (BOS for Llama, none for Qwen) follow the <c>tokenizer.json</c>
/// post-processor, as Python's <c>tokenizers</c> and <c>transformers</c> apply it; only where the file
/// has no <c>TemplateProcessing</c> post-processor does <c>tokenizer_config.json</c>'s
/// <c>add_bos_token</c>/<c>add_eos_token</c> decide.
/// </para>
/// </remarks>
public static class TokenizerLoader
{
    public const string TokenizerFileName = "tokenizer.json";

    public const string TokenizerConfigFileName = "tokenizer_config.json";

    /// <summary>GPT-2's split pattern, used by a <c>ByteLevel</c> pre-tokenizer with <c>use_regex: true</c>.</summary>
    private const string Gpt2SplitPattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private const string Metaspace = "\u2581";

    public static ITextTokenizer Load(string modelDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        var path = Path.Combine(modelDirectory, TokenizerFileName);
        if (!File.Exists(path))
        {
            throw new ModelFormatException(path, null, "file not found; the model directory needs a Hugging Face tokenizer.json");
        }

        using var tokenizerJson = ParseJson(path);
        var root = tokenizerJson.RootElement;
        if (ByteLevelTokenizer.Describes(root))
        {
            return ByteLevelTokenizer.Instance;
        }

        var configPath = Path.Combine(modelDirectory, TokenizerConfigFileName);
        using var configJson = File.Exists(configPath) ? ParseJson(configPath) : null;
        return new HuggingFaceBpeTokenizer(ReadSettings(path, root, configJson?.RootElement));
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException error)
        {
            throw new ModelFormatException(path, null, $"not valid JSON: {error.Message}", error);
        }
    }

    private static HuggingFaceBpeSettings ReadSettings(string path, JsonElement root, JsonElement? config)
    {
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException(path, null, "no \"model\" object");
        }

        var modelType = OptionalString(model, "type") ?? "BPE";
        if (modelType != "BPE")
        {
            throw new NotSupportedException(
                $"{path}: tokenizer model type '{modelType}' is not supported; only BPE vocabularies (byte-level as in Llama-3/Qwen2, SentencePiece-style as in Llama-2) load");
        }

        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
        {
            throw new NotSupportedException($"{path}: BPE dropout {dropout.GetDouble()} is not supported (inference uses none)");
        }

        if (!string.IsNullOrEmpty(OptionalString(model, "continuing_subword_prefix"))
            || !string.IsNullOrEmpty(OptionalString(model, "end_of_word_suffix")))
        {
            throw new NotSupportedException($"{path}: BPE continuing_subword_prefix / end_of_word_suffix are not supported");
        }

        var vocabulary = ReadVocabulary(path, model);
        var merges = ReadMerges(path, model);
        var addedTokens = ReadAddedTokens(path, root);

        var (byteLevel, splitPattern, metaspace, metaspacePrepend) = ReadPreTokenizer(path, root);
        var (nfc, normalizerPrepend, replaceSpace) = ReadNormalizer(path, root);
        if (metaspacePrepend != MetaspacePrepend.Never && normalizerPrepend != MetaspacePrepend.Never)
        {
            throw new NotSupportedException($"{path}: both the normalizer and the Metaspace pre-tokenizer prepend '▁'");
        }

        var prepend = metaspacePrepend != MetaspacePrepend.Never ? metaspacePrepend : normalizerPrepend;
        var sentencePiece = replaceSpace || metaspace || prepend != MetaspacePrepend.Never;
        if (byteLevel == sentencePiece)
        {
            throw new NotSupportedException(byteLevel
                ? $"{path}: mixes byte-level and SentencePiece ('▁') pre-processing"
                : $"{path}: neither a ByteLevel pre-tokenizer nor SentencePiece '▁' handling; this BPE scheme is not supported");
        }

        // Without a split, SentencePiece-style BPE runs over the whole text as one word, and
        // Microsoft.ML.Tokenizers' merge loop is quadratic in word length (minutes for 1M characters).
        // Where no vocabulary token holds a '▁' after another character, no token can span the point
        // before such a '▁', so cutting the text there gives exactly the same tokens.
        if (sentencePiece && splitPattern is null && !vocabulary.Keys.Any(HasInnerMetaspace))
        {
            splitPattern = CreateRegex($"{Metaspace}*[^{Metaspace}]+|{Metaspace}+");
        }

        var (prefix, suffix) = ReadPostProcessor(path, root, config, vocabulary, addedTokens);
        var unknownToken = OptionalString(model, "unk_token");
        return new HuggingFaceBpeSettings
        {
            SourcePath = path,
            Vocabulary = vocabulary,
            Merges = merges,
            AddedTokens = addedTokens,
            ByteLevel = byteLevel,
            SplitPattern = splitPattern,
            NormalizeNfc = nfc,
            Prepend = prepend,
            ReplaceSpaceWithMetaspace = sentencePiece,
            ByteFallback = OptionalBool(model, "byte_fallback") ?? false,
            IgnoreMerges = OptionalBool(model, "ignore_merges") ?? false,
            UnknownToken = unknownToken,
            FuseUnknownTokens = OptionalBool(model, "fuse_unk") ?? false,
            PrefixIds = prefix,
            SuffixIds = suffix,
            BeginOfSequenceId = SpecialTokenId(config, "bos_token", vocabulary, addedTokens) ?? (prefix.Count > 0 ? prefix[0] : null),
            EndOfSequenceId = SpecialTokenId(config, "eos_token", vocabulary, addedTokens),
        };
    }

    private static bool HasInnerMetaspace(string token)
    {
        for (var i = token.Length < 2 ? -1 : token.IndexOf(Metaspace[0], 1); i > 0; i = token.IndexOf(Metaspace[0], i + 1))
        {
            if (token[i - 1] != Metaspace[0])
            {
                return true;
            }
        }

        return false;
    }

    private static Dictionary<string, int> ReadVocabulary(string path, JsonElement model)
    {
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException(path, null, "model.vocab is missing or not an object");
        }

        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocab.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0)
            {
                throw new ModelFormatException(path, null, $"model.vocab entry '{entry.Name}' has id {entry.Value} (expected a non-negative integer)");
            }

            result[entry.Name] = id;
        }

        return result;
    }

    /// <summary>Merges come as "a b" strings (older files) or ["a", "b"] pairs (newer ones).</summary>
    private static List<string> ReadMerges(string path, JsonElement model)
    {
        var result = new List<string>();
        if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind == JsonValueKind.Null)
        {
            return result;
        }

        foreach (var merge in merges.EnumerateArray())
        {
            string? left, right;
            if (merge.ValueKind == JsonValueKind.String)
            {
                var text = merge.GetString()!;
                var space = text.IndexOf(' ', StringComparison.Ordinal);
                (left, right) = space <= 0 ? (null, null) : (text[..space], text[(space + 1)..]);
            }
            else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2)
            {
                (left, right) = (merge[0].GetString(), merge[1].GetString());
            }
            else
            {
                (left, right) = (null, null);
            }

            if (string.IsNullOrEmpty(left) || string.IsNullOrEmpty(right))
            {
                throw new ModelFormatException(path, null, $"model.merges entry {result.Count} ({merge}) is not a pair of tokens");
            }

            // Microsoft.ML.Tokenizers takes merges as "a b"; a token holding a space cannot be said that way.
            if (left.Contains(' ', StringComparison.Ordinal) || right.Contains(' ', StringComparison.Ordinal))
            {
                throw new NotSupportedException($"{path}: merge {result.Count} ('{left}', '{right}') has a token containing a space");
            }

            result.Add($"{left} {right}");
        }

        return result;
    }

    private static List<(string Content, int Id, bool Special)> ReadAddedTokens(string path, JsonElement root)
    {
        var result = new List<(string, int, bool)>();
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind != JsonValueKind.Array)
        {
            return result;
        }

        foreach (var token in added.EnumerateArray())
        {
            var content = OptionalString(token, "content");
            if (content is null || !token.TryGetProperty("id", out var idElement) || !idElement.TryGetInt32(out var id) || id < 0)
            {
                throw new ModelFormatException(path, null, $"added_tokens entry {result.Count} lacks a content string or a non-negative id");
            }

            result.Add((content, id, OptionalBool(token, "special") ?? false));
        }

        return result;
    }

    private static (bool ByteLevel, Regex? SplitPattern, bool Metaspace, MetaspacePrepend Prepend) ReadPreTokenizer(string path, JsonElement root)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind == JsonValueKind.Null)
        {
            return (false, null, false, MetaspacePrepend.Never);
        }

        var steps = OptionalString(pre, "type") == "Sequence" ? pre.GetProperty("pretokenizers").EnumerateArray().ToList() : [pre];
        var byteLevel = false;
        Regex? split = null;
        var metaspace = false;
        var prepend = MetaspacePrepend.Never;
        foreach (var step in steps)
        {
            var type = OptionalString(step, "type");
            switch (type)
            {
                case "Split" when split is null && !byteLevel:
                    split = ReadSplit(path, step);
                    break;
                case "ByteLevel" when !byteLevel:
                    if (OptionalBool(step, "add_prefix_space") == true)
                    {
                        throw new NotSupportedException($"{path}: ByteLevel pre-tokenizer with add_prefix_space is not supported");
                    }

                    byteLevel = true;
                    if (OptionalBool(step, "use_regex") ?? true)
                    {
                        if (split is not null)
                        {
                            throw new NotSupportedException($"{path}: a Split pre-tokenizer followed by ByteLevel with use_regex is not supported");
                        }

                        split = CreateRegex(Gpt2SplitPattern);
                    }

                    break;
                case "Metaspace" when !metaspace && split is null && !byteLevel:
                    if ((OptionalString(step, "replacement") ?? Metaspace) != Metaspace)
                    {
                        throw new NotSupportedException($"{path}: Metaspace replacement '{OptionalString(step, "replacement")}' is not supported (only '▁')");
                    }

                    prepend = (OptionalString(step, "prepend_scheme") ?? (OptionalBool(step, "add_prefix_space") == false ? "never" : "always")) switch
                    {
                        "always" => MetaspacePrepend.Always,
                        "first" => MetaspacePrepend.First,
                        "never" => MetaspacePrepend.Never,
                        var other => throw new NotSupportedException($"{path}: Metaspace prepend_scheme '{other}' is not supported"),
                    };

                    // Metaspace's split starts a new word at each '▁'; without it the whole text is one word.
                    metaspace = true;
                    split = (OptionalBool(step, "split") ?? true) ? CreateRegex($"[^{Metaspace}]+|{Metaspace}[^{Metaspace}]*") : null;
                    break;
                default:
                    throw new NotSupportedException($"{path}: pre-tokenizer '{type}' is not supported here");
            }
        }

        return (byteLevel, split, metaspace, prepend);
    }

    private static Regex ReadSplit(string path, JsonElement step)
    {
        var behavior = OptionalString(step, "behavior");
        if (behavior != "Isolated" || OptionalBool(step, "invert") == true)
        {
            throw new NotSupportedException($"{path}: Split pre-tokenizer with behavior '{behavior}' (invert {OptionalBool(step, "invert")}) is not supported; only Isolated matches");
        }

        if (!step.TryGetProperty("pattern", out var pattern))
        {
            throw new ModelFormatException(path, null, "Split pre-tokenizer without a pattern");
        }

        if (pattern.TryGetProperty("Regex", out var regex))
        {
            return CreateRegex(regex.GetString()!);
        }

        return CreateRegex(Regex.Escape(pattern.GetProperty("String").GetString()!));
    }

    private static Regex CreateRegex(string pattern)
        => new(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    private static (bool Nfc, MetaspacePrepend Prepend, bool ReplaceSpace) ReadNormalizer(string path, JsonElement root)
    {
        if (!root.TryGetProperty("normalizer", out var normalizer) || normalizer.ValueKind == JsonValueKind.Null)
        {
            return (false, MetaspacePrepend.Never, false);
        }

        var steps = OptionalString(normalizer, "type") == "Sequence" ? normalizer.GetProperty("normalizers").EnumerateArray().ToList() : [normalizer];
        var nfc = false;
        var prepend = MetaspacePrepend.Never;
        var replace = false;
        foreach (var step in steps)
        {
            var type = OptionalString(step, "type");
            switch (type)
            {
                case "NFC":
                    nfc = true;
                    break;
                case "Prepend" when OptionalString(step, "prepend") == Metaspace && !replace:
                    prepend = MetaspacePrepend.Always;
                    break;
                case "Replace" when step.TryGetProperty("pattern", out var pattern)
                    && pattern.TryGetProperty("String", out var from) && from.GetString() == " "
                    && OptionalString(step, "content") == Metaspace:
                    replace = true;
                    break;
                default:
                    throw new NotSupportedException($"{path}: normalizer '{type}' ({step}) is not supported");
            }
        }

        return (nfc, prepend, replace);
    }

    /// <summary>The ids the post-processor adds before and after a single sequence.</summary>
    private static (List<int> Prefix, List<int> Suffix) ReadPostProcessor(
        string path, JsonElement root, JsonElement? config, Dictionary<string, int> vocabulary, List<(string Content, int Id, bool Special)> added)
    {
        var prefix = new List<int>();
        var suffix = new List<int>();
        if (root.TryGetProperty("post_processor", out var post) && post.ValueKind == JsonValueKind.Object)
        {
            var template = OptionalString(post, "type") == "Sequence"
                ? post.GetProperty("processors").EnumerateArray().FirstOrDefault(p => OptionalString(p, "type") == "TemplateProcessing")
                : post;
            if (template.ValueKind == JsonValueKind.Object && OptionalString(template, "type") == "TemplateProcessing")
            {
                var seenSequence = false;
                foreach (var piece in template.GetProperty("single").EnumerateArray())
                {
                    if (piece.TryGetProperty("Sequence", out _))
                    {
                        seenSequence = true;
                        continue;
                    }

                    var name = piece.GetProperty("SpecialToken").GetProperty("id").GetString()!;
                    if (!template.TryGetProperty("special_tokens", out var specials) || !specials.TryGetProperty(name, out var special))
                    {
                        throw new ModelFormatException(path, null, $"post_processor template names special token '{name}' but does not define it");
                    }

                    var ids = special.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32());
                    (seenSequence ? suffix : prefix).AddRange(ids);
                }

                return (prefix, suffix);
            }
        }

        // No template in tokenizer.json: tokenizer_config.json's flags (transformers' Llama tokenizers) decide.
        if (config is { } c)
        {
            if (OptionalBool(c, "add_bos_token") == true && SpecialTokenId(c, "bos_token", vocabulary, added) is { } bos)
            {
                prefix.Add(bos);
            }

            if (OptionalBool(c, "add_eos_token") == true && SpecialTokenId(c, "eos_token", vocabulary, added) is { } eos)
            {
                suffix.Add(eos);
            }
        }

        return (prefix, suffix);
    }

    /// <summary>The id of a <c>tokenizer_config.json</c> token entry, given as a string or as an object with "content".</summary>
    private static int? SpecialTokenId(JsonElement? config, string key, Dictionary<string, int> vocabulary, List<(string Content, int Id, bool Special)> added)
    {
        if (config is not { } c || !c.TryGetProperty(key, out var value))
        {
            return null;
        }

        var content = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object => OptionalString(value, "content"),
            _ => null,
        };
        if (content is null)
        {
            return null;
        }

        foreach (var token in added)
        {
            if (token.Content == content)
            {
                return token.Id;
            }
        }

        return vocabulary.TryGetValue(content, out var id) ? id : null;
    }

    private static string? OptionalString(JsonElement element, string name)
        => element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool? OptionalBool(JsonElement element, string name)
        => element.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean() : null;
}
