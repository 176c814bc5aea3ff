using MInference.Kernels.Cpu;
using MInference.Shared.Models;

namespace MInference.Kernels.Tests.Cpu;

public sealed class CpuLinearTests
{
    /// <summary>
    /// Linear (out = in · Wᵀ + b) matches a double-precision triple loop for shapes that are and are
    /// not multiples of the micro-kernel's 6 rows, 16-wide panels and 256-deep blocks, with and without
    /// bias, on one and two threads.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 1, false, 2)]
    [InlineData(1, 300, 77, true, 2)]
    [InlineData(6, 16, 256, false, 1)]
    [InlineData(7, 33, 513, true, 2)]
    [InlineData(97, 130, 96, true, 2)]
    [InlineData(200, 257, 300, false, 2)]
    [InlineData(13, 1000, 64, true, 1)]
    public void Linear_matches_double_reference(int n, int m, int k, bool withBias, int threads)
    {
        var random = new Random(1000 + (n * 31) + m + k);
        using var backend = new CpuBackend(new CpuBackendOptions { MaxDegreeOfParallelism = threads });
        var input = TestData.Random(random, (long)n * k);
        var weight = TestData.Random(random, (long)m * k);
        var bias = withBias ? TestData.Random(random, m) : null;
        using var x = TestData.Upload(backend, input, n, k);
        using var w = backend.UploadWeight(System.Runtime.InteropServices.MemoryMarshal.AsBytes(weight.AsSpan()), TensorDType.Float32, m, k);
        using var b = bias is null ? null : TestData.Upload(backend, bias, 1, m);
        using var y = TestData.Poisoned(backend, n, m);

        backend.Linear(x, w, b, y);

        var expected = new double[n * m];
        for (var r = 0; r < n; r++)
        {
            for (var c = 0; c < m; c++)
            {
                double sum = bias is null ? 0 : bias[c];
                for (var i = 0; i < k; i++)
                {
                    sum += (double)input[(r * k) + i] * weight[(c * k) + i];
                }

                expected[(r * m) + c] = sum;
            }
        }

        TestData.AssertClose(TestData.Download(backend, y), expected);
    }

    /// <summary>A second call with the cached packed weight gives the same result as the first (the cache is not stale or corrupted).</summary>
    [Fact]
    public void Linear_reuses_packed_weight_consistently()
    {
        var random = new Random(7);
        using var backend = new CpuBackend();
        var weight = TestData.Random(random, 40 * 70);
        using var w = backend.UploadWeight(System.Runtime.InteropServices.MemoryMarshal.AsBytes(weight.AsSpan()), TensorDType.Float32, 40, 70);
        using var x1 = TestData.Upload(backend, TestData.Random(random, 9 * 70), 9, 70);
        using var x2 = TestData.Upload(backend, TestData.Random(random, 9 * 70), 9, 70);
        using var y1 = TestData.Poisoned(backend, 9, 40);
        using var y2 = TestData.Poisoned(backend, 9, 40);
        using var y1Again = TestData.Poisoned(backend, 9, 40);

        backend.Linear(x1, w, null, y1);
        backend.Linear(x2, w, null, y2);
        backend.Linear(x1, w, null, y1Again);

        Assert.Equal(TestData.Download(backend, y1), TestData.Download(backend, y1Again));
        Assert.NotEqual(TestData.Download(backend, y1), TestData.Download(backend, y2));
    }

    /// <summary>Mismatched shapes throw and name both sizes.</summary>
    [Fact]
    public void Linear_rejects_mismatched_depth()
    {
        using var backend = new CpuBackend();
        using var x = backend.Allocate(3, 10);
        using var w = backend.Allocate(4, 11);
        using var y = backend.Allocate(3, 4);
        var error = Assert.Throws<ArgumentException>(() => backend.Linear(x, w, null, y));
        Assert.Contains("11", error.Message, StringComparison.Ordinal);
        Assert.Contains("10", error.Message, StringComparison.Ordinal);
    }
}
