using MInference.Kernels.Sparse;

namespace MInference.Kernels.Tests.Sparse;

public class TopKTests
{
    /// <summary>Higher scores win, equal scores keep the lower index, +inf is always kept, results come ascending.</summary>
    [Fact]
    public void Ties_keep_the_lower_index_and_results_are_ascending()
    {
        float[] scores = [0.5f, 0.9f, 0.5f, float.PositiveInfinity, 0.5f, 0.1f, 0.9f];
        Assert.Equal([1, 3, 6], TopK.Select(scores, 3));
        Assert.Equal([0, 1, 3, 6], TopK.Select(scores, 4));
        Assert.Equal([0, 1, 2, 3, 6], TopK.Select(scores, 5));
    }

    /// <summary>On random scores the selection equals the k largest by a full sort.</summary>
    [Fact]
    public void Random_scores_select_the_largest()
    {
        var random = new Random(77);
        var scores = SparseTestData.Random(random, 1, 5000);
        var expected = scores.Select((s, i) => (s, i)).OrderByDescending(x => x.s).Take(321).Select(x => x.i).Order().ToArray();
        Assert.Equal(expected, TopK.Select(scores, 321));
    }

    /// <summary>With heavily tied (quantised) scores and NaNs, the selection equals a stable full sort by score descending, index ascending.</summary>
    [Theory]
    [InlineData(5)]
    [InlineData(6)]
    public void Tied_and_NaN_scores_match_a_stable_sort(int seed)
    {
        var random = new Random(seed);
        var scores = Enumerable.Range(0, 3000).Select(_ => random.Next(10) == 0 ? float.NaN : random.Next(7) / 7f).ToArray();
        foreach (var k in new[] { 0, 1, 64, 2999, 3000 })
        {
            var expected = scores.Select((s, i) => (s: float.IsNaN(s) ? float.NegativeInfinity : s, i))
                .OrderByDescending(x => x.s).ThenBy(x => x.i).Take(k).Select(x => x.i).Order().ToArray();
            Assert.Equal(expected, TopK.Select(scores, k));
        }
    }
}
