using System.Text.Json;
using MInference.Shared.Tokenization.Unicode;

namespace MInference.Shared.Tests.Tokenization;

public sealed class CanonicalCompositionTests
{
    /// <summary>Hand-checked cases: composition, reordering of marks, Hangul, singletons, exclusions, untouched text.</summary>
    [Theory]
    [InlineData("A\u0301", "\u00C1")]
    [InlineData("a\u0323\u0302", "\u1EAD")]
    [InlineData("a\u0302\u0323", "\u1EAD")]
    [InlineData("\u1100\u1161\u11A8", "\uAC01")]
    [InlineData("\u212B", "\u00C5")]
    [InlineData("\u0344", "\u0308\u0301")]
    [InlineData("\U0001D15E", "\U0001D157\U0001D165")]
    [InlineData("plain ASCII and café", "plain ASCII and café")]
    [InlineData("中文 😀", "中文 😀")]
    [InlineData("", "")]
    public void Normalizes_known_cases(string text, string expected)
    {
        Assert.Equal(expected, CanonicalComposition.Normalize(text));
    }

    /// <summary>400 seeded random mark-heavy strings normalize exactly as Python's unicodedata does (nfc_cases.json).</summary>
    [Fact]
    public void Matches_python_unicodedata_on_random_strings()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestVocabularies.FixtureDirectory, "nfc_cases.json")));
        var failures = new List<string>();
        foreach (var entry in document.RootElement.GetProperty("cases").EnumerateArray())
        {
            var text = entry.GetProperty("text").GetString()!;
            var expected = entry.GetProperty("nfc").GetString()!;
            var actual = CanonicalComposition.Normalize(text);
            if (actual != expected)
            {
                failures.Add($"{JsonSerializer.Serialize(text)}: got {JsonSerializer.Serialize(actual)}, expected {JsonSerializer.Serialize(expected)}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
