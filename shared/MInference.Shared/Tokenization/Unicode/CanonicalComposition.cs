using System.Globalization;
using System.Text;

namespace MInference.Shared.Tokenization.Unicode;

/// <summary>
/// Unicode Normalization Form C, carried with its own tables (<see cref="NfcTables"/>) because
/// <see cref="string.Normalize()"/> leaves text unchanged under InvariantGlobalization, which this
/// solution builds with. Qwen2/3 vocabularies normalize their input this way.
/// </summary>
internal static class CanonicalComposition
{
    /// <summary>Below U+0300 there are no combining marks and every character is already NFC.</summary>
    private const int FirstNonTrivialCodePoint = 0x300;

    private const int HangulSBase = 0xAC00;
    private const int HangulLBase = 0x1100;
    private const int HangulVBase = 0x1161;
    private const int HangulTBase = 0x11A7;
    private const int HangulLCount = 19;
    private const int HangulVCount = 21;
    private const int HangulTCount = 28;
    private const int HangulNCount = HangulVCount * HangulTCount;
    private const int HangulSCount = HangulLCount * HangulNCount;

    private static readonly Dictionary<int, byte> _combiningClasses = ParseCombiningClasses();
    private static readonly Dictionary<int, int[]> _fullDecompositions = ParseFullDecompositions(out _compositions);
    private static readonly Dictionary<long, int> _compositions;

    public static string Normalize(string text)
    {
        var i = 0;
        while (i < text.Length && text[i] < FirstNonTrivialCodePoint)
        {
            i++;
        }

        if (i == text.Length)
        {
            return text;
        }

        var codePoints = new List<int>(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            Decompose(rune.Value, codePoints);
        }

        SortCombiningMarks(codePoints);
        Compose(codePoints);

        var builder = new StringBuilder(text.Length);
        foreach (var codePoint in codePoints)
        {
            builder.Append(new Rune(codePoint).ToString());
        }

        return builder.ToString();
    }

    private static byte CombiningClass(int codePoint)
        => _combiningClasses.TryGetValue(codePoint, out var value) ? value : (byte)0;

    private static void Decompose(int codePoint, List<int> output)
    {
        var sIndex = codePoint - HangulSBase;
        if (sIndex is >= 0 and < HangulSCount)
        {
            output.Add(HangulLBase + (sIndex / HangulNCount));
            output.Add(HangulVBase + (sIndex % HangulNCount / HangulTCount));
            if (sIndex % HangulTCount != 0)
            {
                output.Add(HangulTBase + (sIndex % HangulTCount));
            }

            return;
        }

        if (_fullDecompositions.TryGetValue(codePoint, out var parts))
        {
            output.AddRange(parts);
        }
        else
        {
            output.Add(codePoint);
        }
    }

    /// <summary>Canonical ordering: each run of non-starters sorted by combining class, stably.</summary>
    private static void SortCombiningMarks(List<int> codePoints)
    {
        for (var i = 1; i < codePoints.Count; i++)
        {
            var current = codePoints[i];
            var currentClass = CombiningClass(current);
            if (currentClass == 0)
            {
                continue;
            }

            var j = i;
            while (j > 0 && CombiningClass(codePoints[j - 1]) > currentClass)
            {
                codePoints[j] = codePoints[j - 1];
                j--;
            }

            codePoints[j] = current;
        }
    }

    /// <summary>The canonical composition algorithm: combine each unblocked mark with the last starter.</summary>
    private static void Compose(List<int> codePoints)
    {
        if (codePoints.Count == 0)
        {
            return;
        }

        var starterIndex = CombiningClass(codePoints[0]) == 0 ? 0 : -1;
        var write = 1;
        var lastClass = starterIndex == 0 ? 0 : 256;
        for (var read = 1; read < codePoints.Count; read++)
        {
            var current = codePoints[read];
            var currentClass = CombiningClass(current);
            var blocked = write - 1 != starterIndex && lastClass >= currentClass;
            if (starterIndex >= 0 && !blocked && TryCompose(codePoints[starterIndex], current, out var composite))
            {
                codePoints[starterIndex] = composite;
                continue;
            }

            if (currentClass == 0)
            {
                starterIndex = write;
            }

            lastClass = currentClass;
            codePoints[write++] = current;
        }

        codePoints.RemoveRange(write, codePoints.Count - write);
    }

    private static bool TryCompose(int first, int second, out int composite)
    {
        var lIndex = first - HangulLBase;
        if (lIndex is >= 0 and < HangulLCount)
        {
            var vIndex = second - HangulVBase;
            if (vIndex is >= 0 and < HangulVCount)
            {
                composite = HangulSBase + (((lIndex * HangulVCount) + vIndex) * HangulTCount);
                return true;
            }
        }

        var sIndex = first - HangulSBase;
        if (sIndex is >= 0 and < HangulSCount && sIndex % HangulTCount == 0)
        {
            var tIndex = second - HangulTBase;
            if (tIndex is > 0 and < HangulTCount)
            {
                composite = first + tIndex;
                return true;
            }
        }

        return _compositions.TryGetValue(PairKey(first, second), out composite);
    }

    private static long PairKey(int first, int second) => ((long)first << 21) | (uint)second;

    private static Dictionary<int, byte> ParseCombiningClasses()
    {
        var result = new Dictionary<int, byte>();
        foreach (var entry in NfcTables.CombiningClasses.Split(','))
        {
            var colon = entry.IndexOf(':', StringComparison.Ordinal);
            result[Hex(entry[..colon])] = byte.Parse(entry.AsSpan(colon + 1), CultureInfo.InvariantCulture);
        }

        return result;
    }

    private static Dictionary<int, int[]> ParseFullDecompositions(out Dictionary<long, int> compositions)
    {
        var oneLevel = new Dictionary<int, int[]>();
        foreach (var entry in NfcTables.Decompositions.Split(','))
        {
            var colon = entry.IndexOf(':', StringComparison.Ordinal);
            oneLevel[Hex(entry[..colon])] = entry[(colon + 1)..].Split(' ').Select(Hex).ToArray();
        }

        compositions = new Dictionary<long, int>();
        foreach (var entry in NfcTables.PrimaryComposites.Split(','))
        {
            var composite = Hex(entry);
            var parts = oneLevel[composite];
            compositions[PairKey(parts[0], parts[1])] = composite;
        }

        var full = new Dictionary<int, int[]>(oneLevel.Count);
        foreach (var codePoint in oneLevel.Keys)
        {
            var expanded = new List<int>();
            Expand(codePoint, oneLevel, expanded);
            full[codePoint] = [.. expanded];
        }

        return full;
    }

    private static void Expand(int codePoint, Dictionary<int, int[]> oneLevel, List<int> output)
    {
        if (!oneLevel.TryGetValue(codePoint, out var parts))
        {
            output.Add(codePoint);
            return;
        }

        foreach (var part in parts)
        {
            Expand(part, oneLevel, output);
        }
    }

    private static int Hex(string text) => int.Parse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
}
