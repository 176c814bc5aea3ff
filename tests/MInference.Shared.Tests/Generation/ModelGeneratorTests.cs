using System.Security.Cryptography;
using MInference.Shared.Generation;
using MInference.Shared.Models;
using MInference.Shared.Models.Safetensors;
using MInference.Shared.Tests.Models;
using MInference.Shared.Tokenization;

namespace MInference.Shared.Tests.Generation;

public sealed class ModelGeneratorTests : IDisposable
{
    private readonly string _root = SafetensorsTestFiles.NewDirectory();

    public void Dispose() => Directory.Delete(_root, true);

    /// <summary>The tiny model's directory opens with the real loader: config equals the shape, every tensor present with its shape, tokenizer written.</summary>
    [Theory]
    [InlineData(ModelShapes.Tiny)]
    [InlineData(ModelShapes.TinyQwen2)]
    public void Generated_directory_loads_with_the_real_loader(string shape)
    {
        var dir = Path.Combine(_root, shape);
        var spec = ModelShapes.Get(shape);

        var result = ModelGenerator.Generate(spec, dir, seed: 1234, new ModelGeneratorOptions { ShapeName = shape }, cancellationToken: TestContext.Current.CancellationToken);

        using var weights = SafetensorsModelWeights.Open(dir);
        Assert.Equal(spec, weights.Spec);
        Assert.Equal(ModelTensorNames.Expected(spec).Count, weights.TensorNames.Count);
        Assert.Equal(result.TensorCount, weights.TensorNames.Count);
        Assert.True(File.Exists(Path.Combine(dir, ByteLevelTokenizer.TokenizerFileName)));
        Assert.True(File.Exists(Path.Combine(dir, ModelGenerator.GenerationConfigFileName)));
        using var file = SafetensorsFile.Open(Path.Combine(dir, SafetensorsIndex.SingleFileName));
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("1234", file.Metadata[ModelGenerator.SeedMetadataKey]);
        Assert.All(file.Tensors.Values, t => Assert.Equal(TensorDType.BFloat16, t.Info.DType));
    }

    /// <summary>Output bytes depend only on (spec, seed): one thread with shards of ~1 MB equals all threads in one file, tensor by tensor.</summary>
    [Fact]
    public void Output_is_independent_of_threads_and_sharding()
    {
        var spec = ModelShapes.Get(ModelShapes.TinyQwen2);
        var one = Path.Combine(_root, "one");
        var sharded = Path.Combine(_root, "sharded");

        ModelGenerator.Generate(spec, one, seed: 99, new ModelGeneratorOptions { MaxDegreeOfParallelism = 1 }, cancellationToken: TestContext.Current.CancellationToken);
        var result = ModelGenerator.Generate(spec, sharded, seed: 99, new ModelGeneratorOptions { MaxShardBytes = 1_000_000 }, cancellationToken: TestContext.Current.CancellationToken);

        Assert.True(result.WeightFiles.Count > 3);
        Assert.True(File.Exists(Path.Combine(sharded, SafetensorsIndex.FileName)));
        using var a = SafetensorsModelWeights.Open(one);
        using var b = SafetensorsModelWeights.Open(sharded);
        foreach (var name in a.TensorNames)
        {
            Assert.True(a.GetBytes(name).SequenceEqual(b.GetBytes(name)), name);
        }
    }

    /// <summary>Generating twice gives byte-identical files; another seed gives different weights.</summary>
    [Fact]
    public void Same_seed_same_bytes_other_seed_other_bytes()
    {
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        string Hash(string dir) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, SafetensorsIndex.SingleFileName))));

        ModelGenerator.Generate(spec, Path.Combine(_root, "a"), seed: 5, cancellationToken: TestContext.Current.CancellationToken);
        ModelGenerator.Generate(spec, Path.Combine(_root, "b"), seed: 5, cancellationToken: TestContext.Current.CancellationToken);
        ModelGenerator.Generate(spec, Path.Combine(_root, "c"), seed: 6, cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal(Hash(Path.Combine(_root, "a")), Hash(Path.Combine(_root, "b")));
        Assert.NotEqual(Hash(Path.Combine(_root, "a")), Hash(Path.Combine(_root, "c")));
    }

    /// <summary>
    /// Pins the generator's bits: the committed expected-logit fixtures were made from models generated
    /// on another machine, so any change to the RNG, the scales or the rounding must fail here first.
    /// </summary>
    [Fact]
    public void Generated_values_are_pinned()
    {
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        var values = new float[4];
        var bits = new ushort[4];

        ModelGenerator.FillTensor(spec, 1234, ModelTensorNames.QueryProjection(1), [512, 512], 1000, values);
        for (var i = 0; i < 4; i++)
        {
            bits[i] = TensorConversion.Float32ToBFloat16(values[i]);
        }

        Assert.Equal(PinnedQueryProjectionBits, bits);
    }

    /// <summary>Weights follow the stated scales: q_proj std ≈ 1/sqrt(hidden), norm weights in 1 ± 0.1, o_proj scaled down by depth.</summary>
    [Fact]
    public void Weight_statistics_follow_the_stated_scales()
    {
        var spec = ModelShapes.Get(ModelShapes.Tiny);
        var dir = Path.Combine(_root, "stats");
        ModelGenerator.Generate(spec, dir, seed: 7, cancellationToken: TestContext.Current.CancellationToken);
        using var weights = SafetensorsModelWeights.Open(dir);

        var q = weights.ReadAsFloat32(ModelTensorNames.QueryProjection(0));
        var o = weights.ReadAsFloat32(ModelTensorNames.OutputProjection(0));
        var norm = weights.ReadAsFloat32(ModelTensorNames.InputNorm(1));
        var embedding = weights.ReadAsFloat32(ModelTensorNames.Embedding);

        Assert.InRange(Std(q), 0.97 / Math.Sqrt(512), 1.03 / Math.Sqrt(512));
        Assert.InRange(Std(o), 0.95 / Math.Sqrt(512 * 4), 1.05 / Math.Sqrt(512 * 4));
        Assert.InRange(Std(embedding), 0.97, 1.03);
        Assert.InRange(Math.Abs(q.Average()), 0, 0.01);
        Assert.All(norm, w => Assert.InRange(w, 0.89f, 1.11f));
        Assert.True(norm.Distinct().Count() > 20); // bf16 holds about 26 values in 1 ± 0.1
    }

    /// <summary>Cancellation stops the generation and leaves no weight file behind.</summary>
    [Fact]
    public void Cancelled_generation_leaves_no_weight_file()
    {
        var dir = Path.Combine(_root, "cancelled");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => ModelGenerator.Generate(ModelShapes.Get(ModelShapes.Tiny), dir, 1, cancellationToken: cts.Token));

        Assert.False(File.Exists(Path.Combine(dir, SafetensorsIndex.SingleFileName)));
    }

    private static readonly ushort[] PinnedQueryProjectionBits = [48169, 48519, 48419, 15731];

    private static double Std(float[] values)
    {
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (double)(v - mean)) / values.Length);
    }
}
