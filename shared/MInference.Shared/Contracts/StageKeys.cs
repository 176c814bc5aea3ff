using System.Globalization;

namespace MInference.Shared.Contracts;

/// <summary>Stage grain keys <c>"{siloName}/{deviceIndex}"</c>.</summary>
public static class StageKeys
{
    public static string Format(string siloName, int deviceIndex)
        => string.Create(CultureInfo.InvariantCulture, $"{siloName}/{deviceIndex}");

    /// <summary>Splits a key at its last '/' (silo names may not contain one, device indexes are non-negative).</summary>
    public static bool TryParse(string key, out string siloName, out int deviceIndex)
    {
        ArgumentNullException.ThrowIfNull(key);
        var slash = key.LastIndexOf('/');
        siloName = slash > 0 ? key[..slash] : string.Empty;
        deviceIndex = -1;
        return slash > 0
            && int.TryParse(key.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out deviceIndex);
    }
}
