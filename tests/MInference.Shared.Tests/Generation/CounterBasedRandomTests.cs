using MInference.Shared.Generation;

namespace MInference.Shared.Tests.Generation;

public class CounterBasedRandomTests
{
    /// <summary>The vectorised path equals the scalar path element by element (a length-1 fill always takes the scalar path), with and without an offset.</summary>
    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    public void Vector_and_scalar_paths_agree(float offset)
    {
        const ulong Key = 0x1234_5678_9ABC_DEF0UL;
        var bulk = new float[133];
        Array.Fill(bulk, float.NaN);

        CounterBasedRandom.FillUniform(Key, 4_000_000_001, 0.25f, offset, bulk);

        var single = new float[1];
        for (var i = 0; i < bulk.Length; i++)
        {
            single[0] = float.NaN;
            CounterBasedRandom.FillUniform(Key, 4_000_000_001 + i, 0.25f, offset, single);
            Assert.Equal(BitConverter.SingleToUInt32Bits(single[0]), BitConverter.SingleToUInt32Bits(bulk[i]));
        }
    }

    /// <summary>Values are uniform on (-a, a): inside the bounds, mean near 0, std near a/sqrt(3).</summary>
    [Fact]
    public void Values_are_uniform_in_the_half_width()
    {
        var values = new float[200_000];
        Array.Fill(values, float.NaN);

        CounterBasedRandom.FillUniform(CounterBasedRandom.TensorKey(3, "t"), 0, 2f, 0f, values);

        Assert.All(values, v => Assert.InRange(v, -2f, 2f));
        var mean = values.Average();
        var std = Math.Sqrt(values.Sum(v => (v - mean) * (double)(v - mean)) / values.Length);
        Assert.InRange(mean, -0.02, 0.02);
        Assert.InRange(std, 2 / Math.Sqrt(3) * 0.99, 2 / Math.Sqrt(3) * 1.01);
    }

    /// <summary>Different tensor names or seeds give different streams; the same pair gives the same key.</summary>
    [Fact]
    public void Keys_depend_on_seed_and_name()
    {
        Assert.Equal(CounterBasedRandom.TensorKey(1, "a"), CounterBasedRandom.TensorKey(1, "a"));
        Assert.NotEqual(CounterBasedRandom.TensorKey(1, "a"), CounterBasedRandom.TensorKey(2, "a"));
        Assert.NotEqual(CounterBasedRandom.TensorKey(1, "a"), CounterBasedRandom.TensorKey(1, "b"));
    }

    /// <summary>Indices past 2^32 are refused rather than silently repeating the stream.</summary>
    [Fact]
    public void Indices_past_two_to_the_32_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CounterBasedRandom.FillUniform(1, (1L << 32) - 2, 1f, 0f, new float[3]));
    }
}
