using System.Globalization;
using System.Text;
using MInference.Shared.Tokenization;

namespace MInference.Shared.Patterns;

/// <summary>
/// The paper's kind of reference input for the pattern search: synthetic KV retrieval. A JSON object of
/// many random UUID keys and values, then a question asking for one key's value, so answering needs
/// attention from the end of the prompt to one needle far back. Seeded: the same seed, tokenizer and
/// length give the same ids.
/// </summary>
public static class KeyValueRetrievalPrompt
{
    private const string Instruction = "Extract the value corresponding to the specified key in the JSON object below.\n\nJSON data:\n{";

    /// <summary>Token ids of a prompt of at most <paramref name="tokens"/> tokens (as many pairs as fit) and its asked-for key.</summary>
    public static (int[] TokenIds, string Key, string Value) Build(ITextTokenizer tokenizer, int tokens, int seed)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var random = new Random(seed);
        var pairs = new List<(string Key, string Value)>();
        var approximate = tokenizer.Encode(Instruction).Length + 64;
        while (true)
        {
            var pair = (Uuid(random), Uuid(random));
            var cost = tokenizer.Encode($"\"{pair.Item1}\": \"{pair.Item2}\", ", addSpecialTokens: false).Length;
            if (approximate + cost > tokens && pairs.Count > 0)
            {
                break;
            }

            pairs.Add(pair);
            approximate += cost;
            if (pairs.Count > 1_000_000)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "prompt length too large for the KV-retrieval generator");
            }
        }

        var asked = pairs[random.Next(pairs.Count)];
        while (true)
        {
            var ids = tokenizer.Encode(Render(pairs, asked.Key));
            if (ids.Length <= tokens || pairs.Count == 1)
            {
                return (ids, asked.Key, asked.Value);
            }

            // Drop a pair that is not the asked one until the prompt fits.
            pairs.RemoveAt(pairs[^1] == asked ? pairs.Count - 2 : pairs.Count - 1);
        }
    }

    private static string Render(List<(string Key, string Value)> pairs, string key)
    {
        var text = new StringBuilder(Instruction);
        for (var i = 0; i < pairs.Count; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"\"{pairs[i].Key}\": \"{pairs[i].Value}\"").Append(i + 1 < pairs.Count ? ", " : "}\n\n");
        }

        return text.Append(CultureInfo.InvariantCulture, $"Key: \"{key}\"\nThe value associated with the specified key is: ").ToString();
    }

    private static string Uuid(Random random)
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        return new Guid(bytes).ToString();
    }
}
