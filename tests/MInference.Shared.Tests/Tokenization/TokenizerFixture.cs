using System.Text.Json;

namespace MInference.Shared.Tests.Tokenization;

/// <summary>The shared sample strings and the ids Python's <c>tokenizers</c> gave for them (tests/fixtures/tokenizers).</summary>
internal static class TokenizerFixture
{
    public static IReadOnlyList<string> Samples { get; } =
        JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(TestVocabularies.FixtureDirectory, "samples.json")))
        ?? throw new InvalidOperationException("samples.json holds no array");

    public static string ExpectedIdsPath => Path.Combine(TestVocabularies.FixtureDirectory, "expected_ids.json");

    public sealed record Entry(string Text, int[] Ids, int[] IdsWithSpecial);

    /// <summary>The expected ids for <paramref name="vocabulary"/>; skips the test until the fixture has been generated.</summary>
    public static IReadOnlyList<Entry> ExpectedFor(string vocabulary)
    {
        if (!File.Exists(ExpectedIdsPath))
        {
            Assert.Skip($"{ExpectedIdsPath} not generated yet: see tests/fixtures/tokenizers/README.md");
        }

        using var document = JsonDocument.Parse(File.ReadAllBytes(ExpectedIdsPath));
        return document.RootElement.GetProperty(vocabulary).EnumerateArray()
            .Select(e => new Entry(
                e.GetProperty("text").GetString()!,
                e.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
                e.GetProperty("ids_with_special").EnumerateArray().Select(i => i.GetInt32()).ToArray()))
            .ToArray();
    }
}
