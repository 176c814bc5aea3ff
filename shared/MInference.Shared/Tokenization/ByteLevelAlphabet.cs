namespace MInference.Shared.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-character map, which byte-level BPE vocabularies (GPT-2, Llama-3,
/// Qwen2) use so every byte is a printable character in <c>tokenizer.json</c>: printable Latin-1
/// bytes map to themselves, the others (controls, space, 0x7F..0xA0, soft hyphen) to U+0100 onwards
/// in byte order.
/// </summary>
internal static class ByteLevelAlphabet
{
    public static char[] ByteToCharacter { get; } = BuildByteToCharacter();

    public static IReadOnlyDictionary<char, byte> CharacterToByte { get; } = BuildCharacterToByte();

    private static char[] BuildByteToCharacter()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    private static Dictionary<char, byte> BuildCharacterToByte()
    {
        var inverse = new Dictionary<char, byte>(256);
        for (var b = 0; b < 256; b++)
        {
            inverse.Add(ByteToCharacter[b], (byte)b);
        }

        return inverse;
    }
}
