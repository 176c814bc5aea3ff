using static MInference.Kernels.Cuda.Tests.Numerics;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>Conversions, copies and element-wise ops of <see cref="CudaBackend"/> against CPU formulas.</summary>
public sealed class ElementwiseOpTests(CudaFixture fixture)
{
    /// <summary>Upload (f32 -> bf16 on the GPU) then Download (bf16 -> f32) returns exactly the bf16-rounded input, at ragged sizes.</summary>
    [Theory]
    [InlineData(1, 7)]
    [InlineData(33, 129)]
    [InlineData(1000, 4096)]
    public void Upload_then_download_round_trips_through_bf16(int rows, int columns)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var values = RandomValues(new Random(seed), (long)rows * columns, 10f);
        using var tensor = backend.Upload(values, rows, columns);
        var back = Download(backend, tensor);
        Assert.Equal(RoundToBFloat16(values), back);
    }

    /// <summary>AddInPlace adds element-wise, writing every element of the target.</summary>
    [Theory]
    [InlineData(3, 5)]
    [InlineData(257, 1000)]
    public void AddInPlace_matches_cpu(int rows, int columns)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var a = RoundToBFloat16(RandomValues(random, (long)rows * columns));
        var b = RoundToBFloat16(RandomValues(random, (long)rows * columns));
        using var target = backend.Upload(a, rows, columns);
        using var addend = backend.Upload(b, rows, columns);
        backend.AddInPlace(target, addend);
        AssertClose(Download(backend, target), a.Select((x, i) => x + b[i]).ToArray(), seed, "add");
    }

    /// <summary>SwiGlu computes silu(gate) * up into a NaN-poisoned output.</summary>
    [Theory]
    [InlineData(1, 64)]
    [InlineData(129, 700)]
    public void SwiGlu_matches_cpu(int rows, int columns)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        var gate = RoundToBFloat16(RandomValues(random, (long)rows * columns, 4f));
        var up = RoundToBFloat16(RandomValues(random, (long)rows * columns, 2f));
        using var g = backend.Upload(gate, rows, columns);
        using var u = backend.Upload(up, rows, columns);
        using var output = backend.Allocate(rows, columns);
        backend.Poison(output);
        backend.SwiGlu(g, u, output);
        AssertClose(Download(backend, output), NaiveReference.SwiGlu(gate, up), seed, "swiglu");
    }

    /// <summary>CopyRows moves exactly the requested row range, including from and into row views, and leaves the rest alone.</summary>
    [Fact]
    public void CopyRows_copies_only_the_range()
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        const int Columns = 96;
        var source = RoundToBFloat16(RandomValues(random, 50 * Columns));
        var destination = RoundToBFloat16(RandomValues(random, 40 * Columns));
        using var src = backend.Upload(source, 50, Columns);
        using var dst = backend.Upload(destination, 40, Columns);
        using var srcView = src.SliceRows(10, 30);
        backend.CopyRows(srcView, 3, dst, 7, 20);
        var expected = (float[])destination.Clone();
        Array.Copy(source, 13 * Columns, expected, 7 * Columns, 20 * Columns);
        Assert.Equal(expected, Download(backend, dst));
    }

    /// <summary>Embedding gathers table rows by id, ragged id counts included, and rejects ids outside the table.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(77)]
    public void Embedding_gathers_rows(int tokens)
    {
        var backend = fixture.Backend;
        var seed = FreshSeed();
        var random = new Random(seed);
        const int Vocabulary = 300;
        const int Hidden = 136;
        var table = RoundToBFloat16(RandomValues(random, Vocabulary * Hidden));
        var ids = Enumerable.Range(0, tokens).Select(_ => random.Next(Vocabulary)).ToArray();
        using var t = backend.Upload(table, Vocabulary, Hidden);
        using var output = backend.Allocate(tokens, Hidden);
        backend.Poison(output);
        backend.Embedding(t, ids, output);
        var expected = ids.SelectMany(id => table.AsSpan(id * Hidden, Hidden).ToArray()).ToArray();
        Assert.Equal(expected, Download(backend, output));
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.Embedding(t, [Vocabulary], output.SliceRows(0, 1)));
    }
}
