namespace MInference.Shared.Tests.Tokenization;

public sealed class TokenizerFixtureTests
{
    public static TheoryData<string, string> Oracles => new()
    {
        { TokenizerFixture.HuggingFaceTokenizers, TestVocabularies.Llama2 },
        { TokenizerFixture.HuggingFaceTokenizers, TestVocabularies.Qwen3 },
        { TokenizerFixture.TransformersJs, TestVocabularies.Llama2 },
        { TokenizerFixture.TransformersJs, TestVocabularies.Qwen3 },
    };

    /// <summary>
    /// For every sample string, our ids (with and without special tokens) equal the ids an outside
    /// implementation gave for the same tokenizer.json: Hugging Face's Python <c>tokenizers</c>
    /// (expected_ids.json) and the transformers.js port (expected_ids_transformersjs.json). Every
    /// mismatch is listed, so one run shows all strings where the two disagree.
    /// </summary>
    [Theory]
    [MemberData(nameof(Oracles))]
    public void Ids_equal_outside_implementation(string fixtureFile, string vocabulary)
    {
        var expected = TokenizerFixture.ExpectedFor(fixtureFile, vocabulary);
        var tokenizer = TestVocabularies.Load(vocabulary);
        Assert.Equal(TokenizerFixture.Samples, expected.Select(e => e.Text));

        var mismatches = new List<string>();
        foreach (var entry in expected)
        {
            var ids = tokenizer.Encode(entry.Text, addSpecialTokens: false);
            var idsWithSpecial = tokenizer.Encode(entry.Text);
            if (!ids.SequenceEqual(entry.Ids))
            {
                mismatches.Add($"{Quote(entry.Text)}: ours [{string.Join(", ", ids)}], tokenizers [{string.Join(", ", entry.Ids)}]");
            }
            else if (!idsWithSpecial.SequenceEqual(entry.IdsWithSpecial))
            {
                mismatches.Add($"{Quote(entry.Text)} with special tokens: ours [{string.Join(", ", idsWithSpecial)}], tokenizers [{string.Join(", ", entry.IdsWithSpecial)}]");
            }
        }

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {expected.Count} samples differ:\n{string.Join("\n", mismatches)}");
    }

    private static string Quote(string text) => System.Text.Json.JsonSerializer.Serialize(text);
}
