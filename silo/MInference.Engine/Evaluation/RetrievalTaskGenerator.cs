using System.Globalization;
using System.Text;

namespace MInference.Engine.Evaluation;

/// <summary>
/// Renders the retrieval tasks in the text formats the testbed model was trained on
/// (deploy/accuracy/tasks.py). The draws come from <see cref="Random"/> seeded by the caller, so a
/// (task, length, depth, seed) always gives the same sample; they are not the Python draws, only the
/// same distribution. All text is ASCII: with the byte-level tokenizer one character is one token.
/// </summary>
public static class RetrievalTaskGenerator
{
    /// <summary>Needles of the multi-key task.</summary>
    public const int MultiNeedles = 4;

    private const string KvInstruction = "Extract the value corresponding to the specified key in the JSON object below.\n\nJSON data:\n{";
    private const string KvQuestion = "}\n\nKey: \"{key}\"\nThe value associated with the specified key is: ";

    /// <summary>Bytes of one <c>"key": "value", </c> pair of the KV task.</summary>
    private const int KvPairBytes = 36 + 36 + 8;

    /// <summary>
    /// One sample of about <paramref name="tokens"/> tokens (BOS, prompt and answer) with the asked fact at
    /// <paramref name="depth"/> in [0, 1].
    /// </summary>
    public static RetrievalSample Create(RetrievalTaskKind task, int tokens, double depth, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 128);
        if (!(depth >= 0 && depth <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(depth), depth, $"depth {depth} must be within [0, 1]");
        }

        var random = new Random(seed);
        var (prompt, answer) = task switch
        {
            RetrievalTaskKind.Niah => Haystack(random, tokens, depth, 1),
            RetrievalTaskKind.Multi => Haystack(random, tokens, depth, MultiNeedles),
            RetrievalTaskKind.Kv => KeyValue(random, tokens, depth),
            RetrievalTaskKind.Vt => VariableTracking(random, tokens, depth),
            _ => throw new ArgumentOutOfRangeException(nameof(task), task, $"unknown task {task}"),
        };
        return new RetrievalSample(task, tokens, depth, prompt, answer);
    }

    private static (string Prompt, string Answer) Haystack(Random random, int tokens, double depth, int needles)
    {
        var keys = new List<string>();
        while (keys.Count < needles)
        {
            var key = Letters(random, 6, 'a');
            if (!keys.Contains(key))
            {
                keys.Add(key);
            }
        }

        var numbers = keys.Select(_ => Number(random, 7)).ToArray();
        var pieces = keys.Select((key, i) => $"The special magic number for {key} is {numbers[i]}. ").ToArray();
        var question = $"\nQuestion: What is the special magic number for {keys[0]}?\nAnswer: ";
        var answer = numbers[0] + ".";
        var budget = tokens - 1 - question.Length - answer.Length - pieces.Sum(p => p.Length);
        var text = FillerText.Create(random, Math.Max(budget, 16));
        var placed = new List<(double Fraction, string Piece)> { (depth, pieces[0]) };
        placed.AddRange(pieces.Skip(1).Select(p => (random.NextDouble(), p)));
        foreach (var (fraction, piece) in placed.OrderByDescending(p => p.Fraction))
        {
            text = FillerText.InsertAtSentence(text, fraction, piece);
        }

        return (text + question, answer);
    }

    private static (string Prompt, string Answer) KeyValue(Random random, int tokens, double depth)
    {
        var count = Math.Max(2, (tokens - 1 - KvInstruction.Length - KvQuestion.Length - 36 - 38) / KvPairBytes);
        var pairs = Enumerable.Range(0, count).Select(_ => (Key: Uuid(random), Value: Uuid(random))).ToArray();
        var asked = Math.Min(count - 1, (int)(depth * count));
        var text = new StringBuilder(KvInstruction);
        for (var i = 0; i < count; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"\"{pairs[i].Key}\": \"{pairs[i].Value}\"");
            if (i + 1 < count)
            {
                text.Append(", ");
            }
        }

        text.Append(KvQuestion.Replace("{key}", pairs[asked].Key, StringComparison.Ordinal));
        return (text.ToString(), pairs[asked].Value);
    }

    private static (string Prompt, string Answer) VariableTracking(Random random, int tokens, double depth)
    {
        var names = new List<string>();
        while (names.Count < 6)
        {
            var name = Letters(random, 5, 'A');
            if (!names.Contains(name))
            {
                names.Add(name);
            }
        }

        string[] values = [Number(random, 5), Number(random, 5)];
        var statements = new List<(double Fraction, string Text)>();
        for (var chain = 0; chain < 2; chain++)
        {
            var n = names.Skip(chain * 3).Take(3).ToArray();
            string[] links = [$"VAR {n[0]} = {values[chain]}. ", $"VAR {n[1]} = VAR {n[0]}. ", $"VAR {n[2]} = VAR {n[1]}. "];

            // The asked chain starts at the depth; its later links follow at random later depths.
            var start = chain == 0 ? depth : random.NextDouble();
            double[] fractions = [start, start + ((1 - start) * random.NextDouble()), start + ((1 - start) * random.NextDouble())];
            Array.Sort(fractions);
            statements.AddRange(fractions.Select((f, i) => (f, links[i])));
        }

        var question = $"\nQuestion: What is the value of VAR {names[2]}?\nAnswer: ";
        var answer = values[0] + ".";
        var budget = tokens - 1 - question.Length - answer.Length - statements.Sum(s => s.Text.Length);
        var text = FillerText.Create(random, Math.Max(budget, 16));

        // Deepest first; equal depths keep chain order because later links are inserted first.
        foreach (var (statement, _) in statements.Select((s, i) => (s, i)).OrderByDescending(x => x.s.Fraction).ThenByDescending(x => x.i))
        {
            text = FillerText.InsertAtSentence(text, statement.Fraction, statement.Text);
        }

        return (text + question, answer);
    }

    private static string Letters(Random random, int count, char first)
    {
        Span<char> letters = stackalloc char[count];
        for (var i = 0; i < count; i++)
        {
            letters[i] = (char)(first + random.Next(26));
        }

        return new string(letters);
    }

    private static string Number(Random random, int digits)
    {
        var low = (int)Math.Pow(10, digits - 1);
        return random.Next(low, low * 10).ToString(CultureInfo.InvariantCulture);
    }

    private static string Uuid(Random random)
    {
        Span<byte> bytes = stackalloc byte[16];
        random.NextBytes(bytes);
        var hex = Convert.ToHexStringLower(bytes);
        return $"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}";
    }
}
