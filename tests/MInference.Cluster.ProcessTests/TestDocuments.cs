namespace MInference.Cluster.ProcessTests;

internal static class TestDocuments
{
    /// <summary>Seeded random token ids below <paramref name="vocabulary"/>.</summary>
    public static int[] Random(int seed, int length, int vocabulary = 256)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => random.Next(vocabulary))];
    }
}
