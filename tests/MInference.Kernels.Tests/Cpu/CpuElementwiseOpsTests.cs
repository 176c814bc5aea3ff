using System.Runtime.InteropServices;
using MInference.Kernels.Backends;
using MInference.Kernels.Cpu;
using MInference.Shared.Models;

namespace MInference.Kernels.Tests.Cpu;

public sealed class CpuElementwiseOpsTests
{
    /// <summary>RMSNorm matches x / sqrt(mean(x²) + eps) * w in double, for row counts on both sides of the parallel threshold.</summary>
    [Theory]
    [InlineData(1, 64)]
    [InlineData(3, 1000)]
    [InlineData(130, 96)]
    public void RmsNorm_matches_double_reference(int rows, int columns)
    {
        var random = new Random(rows + columns);
        using var backend = new CpuBackend();
        var input = TestData.Random(random, rows * columns, 3f);
        var weight = TestData.Random(random, columns);
        const float epsilon = 1e-5f;
        using var x = TestData.Upload(backend, input, rows, columns);
        using var w = TestData.Upload(backend, weight, 1, columns);
        using var y = TestData.Poisoned(backend, rows, columns);

        backend.RmsNorm(x, w, epsilon, y);

        var expected = new double[rows * columns];
        for (var r = 0; r < rows; r++)
        {
            double meanSquare = 0;
            for (var c = 0; c < columns; c++)
            {
                meanSquare += (double)input[(r * columns) + c] * input[(r * columns) + c];
            }

            var inverse = 1 / Math.Sqrt((meanSquare / columns) + epsilon);
            for (var c = 0; c < columns; c++)
            {
                expected[(r * columns) + c] = input[(r * columns) + c] * inverse * weight[c];
            }
        }

        TestData.AssertClose(TestData.Download(backend, y), expected);
    }

    /// <summary>
    /// RoPE rotates pair (i, i + d/2) of every head by position · inv_freq[i], rows at firstPosition + r,
    /// for the scaled frequencies of a llama3-rope model. The reference forms the angle as an f32
    /// product, as Hugging Face does, and rotates in double.
    /// </summary>
    [Theory]
    [InlineData(1, 4, 64, 0)]
    [InlineData(5, 2, 128, 1000)]
    [InlineData(70, 3, 64, 12345)]
    public void ApplyRope_matches_double_reference(int rows, int heads, int headDim, long firstPosition)
    {
        var random = new Random(rows * heads + headDim);
        using var backend = new CpuBackend();
        var spec = new ModelSpec
        {
            Architecture = "LlamaForCausalLM",
            VocabSize = 10,
            HiddenSize = heads * headDim,
            IntermediateSize = 10,
            LayerCount = 1,
            QueryHeadCount = heads,
            KeyValueHeadCount = 1,
            HeadDim = headDim,
            RmsNormEpsilon = 1e-5f,
            RopeTheta = 500000f,
            RopeScaling = new RopeScaling { Type = RopeScalingType.Llama3, Factor = 8f, OriginalMaxPositionEmbeddings = 128 },
            MaxPositionEmbeddings = 4096,
        };
        var frequencies = RopeFrequencies.For(spec);
        var input = TestData.Random(random, rows * heads * headDim);
        using var x = TestData.Upload(backend, input, rows, heads * headDim);

        backend.ApplyRope(x, headDim, firstPosition, frequencies);

        var half = headDim / 2;
        var expected = new double[input.Length];
        for (var r = 0; r < rows; r++)
        {
            for (var h = 0; h < heads; h++)
            {
                var offset = (r * heads * headDim) + (h * headDim);
                for (var i = 0; i < half; i++)
                {
                    double angle = (float)(firstPosition + r) * frequencies.InverseFrequencies[i];
                    double x1 = input[offset + i], x2 = input[offset + half + i];
                    expected[offset + i] = (x1 * Math.Cos(angle)) - (x2 * Math.Sin(angle));
                    expected[offset + half + i] = (x2 * Math.Cos(angle)) + (x1 * Math.Sin(angle));
                }
            }
        }

        TestData.AssertClose(TestData.Download(backend, x), expected);
    }

    /// <summary>SwiGLU equals silu(g) · u in double, including when the output aliases the gate.</summary>
    [Theory]
    [InlineData(1, 7, false)]
    [InlineData(90, 300, false)]
    [InlineData(4, 513, true)]
    public void SwiGlu_matches_double_reference(int rows, int columns, bool outputIsGate)
    {
        var random = new Random(rows * columns);
        using var backend = new CpuBackend();
        var gate = TestData.Random(random, rows * columns, 6f);
        var up = TestData.Random(random, rows * columns, 2f);
        using var g = TestData.Upload(backend, gate, rows, columns);
        using var u = TestData.Upload(backend, up, rows, columns);
        using var y = outputIsGate ? null : TestData.Poisoned(backend, rows, columns);

        backend.SwiGlu(g, u, y ?? g);

        var expected = new double[gate.Length];
        for (var i = 0; i < gate.Length; i++)
        {
            expected[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
        }

        TestData.AssertClose(TestData.Download(backend, y ?? g), expected);
    }

    /// <summary>AddInPlace adds element-wise.</summary>
    [Fact]
    public void AddInPlace_adds_elementwise()
    {
        var random = new Random(3);
        using var backend = new CpuBackend();
        var a = TestData.Random(random, 100 * 33);
        var b = TestData.Random(random, 100 * 33);
        using var target = TestData.Upload(backend, a, 100, 33);
        using var addend = TestData.Upload(backend, b, 100, 33);

        backend.AddInPlace(target, addend);

        TestData.AssertClose(TestData.Download(backend, target), a.Select((value, i) => (double)value + b[i]).ToArray());
    }

    /// <summary>Embedding gathers table rows by id, and an id past the vocabulary throws naming the id and the vocabulary size.</summary>
    [Fact]
    public void Embedding_gathers_rows_and_rejects_ids_outside_vocabulary()
    {
        var random = new Random(11);
        using var backend = new CpuBackend();
        var table = TestData.Random(random, 50 * 24);
        using var weights = backend.UploadWeight(MemoryMarshal.AsBytes(table.AsSpan()), TensorDType.Float32, 50, 24);
        int[] ids = [3, 49, 0, 3];
        using var output = TestData.Poisoned(backend, ids.Length, 24);

        backend.Embedding(weights, ids, output);

        var expected = ids.SelectMany(id => table.Skip(id * 24).Take(24).Select(v => (double)v)).ToArray();
        TestData.AssertClose(TestData.Download(backend, output), expected, 0);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => backend.Embedding(weights, [1, 50], backend.Allocate(2, 24)));
        Assert.Contains("50", error.Message, StringComparison.Ordinal);
        Assert.Contains("vocabulary of 50", error.Message, StringComparison.Ordinal);
    }

    /// <summary>CopyRows copies a row range between row views, and rejects a range past the destination.</summary>
    [Fact]
    public void CopyRows_copies_ranges_and_checks_bounds()
    {
        var random = new Random(5);
        using var backend = new CpuBackend();
        var source = TestData.Random(random, 10 * 8);
        using var from = TestData.Upload(backend, source, 10, 8);
        using var to = TestData.Poisoned(backend, 6, 8);

        backend.CopyRows(from, 4, to, 1, 5);
        backend.CopyRows(from, 0, to, 0, 1);

        var expected = source.Take(8).Concat(source.Skip(4 * 8).Take(5 * 8)).Select(v => (double)v).ToArray();
        TestData.AssertClose(TestData.Download(backend, to), expected, 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => backend.CopyRows(from, 0, to, 3, 4));
    }

    /// <summary>Weights uploaded as bf16 and f16 bytes convert exactly to the f32 values they encode.</summary>
    [Fact]
    public void UploadWeight_converts_bf16_and_f16_exactly()
    {
        var random = new Random(13);
        var values = TestData.Random(random, 6 * 5, 100f);
        var bf16 = new byte[values.Length * 2];
        var f16 = new Half[values.Length];
        var expectedBf16 = new double[values.Length];
        var expectedF16 = new double[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var bits = (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16);
            bf16[2 * i] = (byte)bits;
            bf16[(2 * i) + 1] = (byte)(bits >> 8);
            expectedBf16[i] = BitConverter.UInt32BitsToSingle((uint)bits << 16);
            f16[i] = (Half)values[i];
            expectedF16[i] = (double)f16[i];
        }

        using var backend = new CpuBackend();
        using var fromBf16 = backend.UploadWeight(bf16, TensorDType.BFloat16, 6, 5);
        using var fromF16 = backend.UploadWeight(MemoryMarshal.AsBytes(f16.AsSpan()), TensorDType.Float16, 6, 5);

        TestData.AssertClose(TestData.Download(backend, fromBf16), expectedBf16, 0);
        TestData.AssertClose(TestData.Download(backend, fromF16), expectedF16, 0);
        Assert.Throws<ArgumentException>(() => backend.UploadWeight(bf16, TensorDType.BFloat16, 6, 6));
    }
}
