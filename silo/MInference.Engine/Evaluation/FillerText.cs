using System.Text;

namespace MInference.Engine.Evaluation;

/// <summary>
/// The haystack of the retrieval tasks: sentences of random words from a fixed list of lower-case
/// words (no digits, no capitals inside a sentence), the list the model was trained with
/// (deploy/accuracy/tasks.py <c>WORDS</c>), so needles differ from the filler only by their meaning.
/// </summary>
internal static class FillerText
{
    private static readonly string[] _words =
        ("the of and to in is was for on that with as by at from his her they this have had were "
        + "which one all their there been has would when more will some time them into other could "
        + "what about than only its over also people after first many then water way made year long "
        + "little very before great through back where much good well down world still house even "
        + "place small every under never city along light night river stone field garden morning "
        + "green blue quiet open window road bright cold warm old new young early late slow simple")
        .Split(' ');

    /// <summary>Exactly <paramref name="length"/> characters of whole sentences, the last one cut.</summary>
    public static string Create(Random random, int length)
    {
        var text = new StringBuilder(length + 128);
        while (text.Length < length)
        {
            var count = random.Next(5, 13);
            var first = _words[random.Next(_words.Length)];
            text.Append(char.ToUpperInvariant(first[0])).Append(first, 1, first.Length - 1);
            for (var i = 1; i < count; i++)
            {
                text.Append(' ').Append(_words[random.Next(_words.Length)]);
            }

            text.Append(". ");
        }

        return text.ToString(0, length);
    }

    /// <summary>
    /// Inserts <paramref name="piece"/> at the first sentence start at or after <paramref name="fraction"/>
    /// of <paramref name="text"/>; past the last full sentence, at the start of the last one.
    /// </summary>
    public static string InsertAtSentence(string text, double fraction, string piece)
    {
        var position = (int)(fraction * text.Length);
        if (position <= 0)
        {
            return piece + text;
        }

        var dot = text.IndexOf(". ", Math.Max(0, position - 1), StringComparison.Ordinal);
        if (dot < 0)
        {
            dot = text.LastIndexOf(". ", Math.Min(text.Length - 1, position - 1), StringComparison.Ordinal);
        }

        if (dot < 0)
        {
            return piece + text;
        }

        var cut = dot + 2;
        return string.Concat(text.AsSpan(0, cut), piece, text.AsSpan(cut));
    }
}
