namespace MInference.Shared.Tokenization;

/// <summary>
/// Cuts text at a vocabulary's added tokens (<c>&lt;s&gt;</c>, <c>&lt;|im_start|&gt;</c>, ...) the way
/// Hugging Face does before normalization: leftmost match first, the longest token at that position.
/// The pieces between matches are then normalized and tokenized on their own.
/// </summary>
internal sealed class AddedTokenSplitter
{
    private readonly (string Content, int Id)[] _tokens;

    public AddedTokenSplitter(IEnumerable<KeyValuePair<string, int>> addedTokens)
    {
        // Longest first, so a tie at one position goes to the longest token.
        _tokens = addedTokens
            .Where(t => t.Key.Length > 0)
            .Select(t => (t.Key, t.Value))
            .OrderByDescending(t => t.Key.Length)
            .ToArray();
    }

    /// <summary>
    /// Calls <paramref name="onText"/> for each stretch of ordinary text (never empty) and
    /// <paramref name="onToken"/> for each added token, in order.
    /// </summary>
    public void Split(string text, Action<string> onText, Action<int> onToken)
    {
        if (_tokens.Length == 0)
        {
            if (text.Length > 0)
            {
                onText(text);
            }

            return;
        }

        // Next occurrence of each token at or after the cursor; recomputed only once the cursor passes
        // it, so the scan stays linear in the text length times the number of tokens.
        var next = new int[_tokens.Length];
        Array.Fill(next, -2);
        var start = 0;
        while (start < text.Length)
        {
            var bestPosition = int.MaxValue;
            var best = -1;
            for (var i = 0; i < _tokens.Length; i++)
            {
                if (next[i] == -1)
                {
                    continue;
                }

                if (next[i] < start)
                {
                    next[i] = text.IndexOf(_tokens[i].Content, start, StringComparison.Ordinal);
                    if (next[i] < 0)
                    {
                        next[i] = -1;
                        continue;
                    }
                }

                if (next[i] < bestPosition)
                {
                    bestPosition = next[i];
                    best = i;
                }
            }

            if (best < 0)
            {
                onText(text[start..]);
                return;
            }

            if (bestPosition > start)
            {
                onText(text[start..bestPosition]);
            }

            onToken(_tokens[best].Id);
            start = bestPosition + _tokens[best].Content.Length;
        }
    }
}
