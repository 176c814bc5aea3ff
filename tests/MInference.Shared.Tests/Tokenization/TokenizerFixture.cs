using System.Text.Json;

namespace MInference.Shared.Tests.Tokenization;

/// <summary>The shared sample strings and the ids Python's <c>tokenizers</c> gave for them (tests/fixtures/tokenizers).</summary>
internal static class TokenizerFixture
{
    public static IReadOnlyList<string> Samples { get; } =
        JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(TestVocabularies.FixtureDirectory, "samples.json")))
        ?? throw new InvalidOperationException("samples.json holds no array");

    /// <summary>Ids from Python's <c>tokenizers</c> (the reference; make_token_ids.py).</summary>
    public const string HuggingFaceTokenizers = "expected_ids.json";

    /// <summary>Ids from @lenml/tokenizers, a transformers.js port (a second oracle; make_token_ids_js.mjs).</summary>
    public const string TransformersJs = "expected_ids_transformersjs.json";

    public sealed record Entry(string Text, int[] Ids, int[] IdsWithSpecial);

    /// <summary>The expected ids for <paramref name="vocabulary"/> in <paramref name="fixtureFile"/>; skips the test until that file has been generated.</summary>
    public static IReadOnlyList<Entry> ExpectedFor(string fixtureFile, string vocabulary)
    {
        var path = Path.Combine(TestVocabularies.FixtureDirectory, fixtureFile);
        if (!File.Exists(path))
        {
            Assert.Skip($"{path} not generated yet: see tests/fixtures/tokenizers/README.md");
        }

        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        return document.RootElement.GetProperty(vocabulary).EnumerateArray()
            .Select(e => new Entry(
                e.GetProperty("text").GetString()!,
                e.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
                e.GetProperty("ids_with_special").EnumerateArray().Select(i => i.GetInt32()).ToArray()))
            .ToArray();
    }
}
