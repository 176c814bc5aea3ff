using System.Collections.Concurrent;
using MInference.Shared.Tokenization;

namespace MInference.Silo.Grains;

/// <summary>
/// The tokenizer of each model directory this silo has seen, loaded once: jobs submitted as text are
/// tokenized here (the silo reads the model directory; a client may not), and generated tokens decoded.
/// </summary>
public sealed class ModelTokenizers
{
    private readonly ConcurrentDictionary<string, Lazy<ITextTokenizer>> _byDirectory = new(StringComparer.Ordinal);

    /// <summary>The tokenizer of <paramref name="modelDirectory"/> (its tokenizer.json, or the byte-level one of generated models).</summary>
    public ITextTokenizer For(string modelDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        var lazy = _byDirectory.GetOrAdd(Path.GetFullPath(modelDirectory), d => new Lazy<ITextTokenizer>(() => TokenizerLoader.Load(d)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            // A failed load (missing or malformed file) is not cached: the next job tries again.
            _byDirectory.TryRemove(new KeyValuePair<string, Lazy<ITextTokenizer>>(Path.GetFullPath(modelDirectory), lazy));
            throw;
        }
    }

    /// <summary>The text of <paramref name="ids"/>, or null when some id has no text (generated models pad their embedding past the tokenizer).</summary>
    public string? TryDecode(string modelDirectory, IReadOnlyList<int> ids)
    {
        var tokenizer = For(modelDirectory);
        return ids.All(id => id >= 0 && id < tokenizer.VocabularySize) ? tokenizer.Decode([.. ids]) : null;
    }
}
