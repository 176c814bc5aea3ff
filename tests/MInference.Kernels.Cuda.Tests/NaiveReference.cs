using MInference.Kernels.Backends;

namespace MInference.Kernels.Cuda.Tests;

/// <summary>
/// Deliberately naive f64/f32 CPU implementations of the op contracts, the oracle until the CPU
/// backend lands. Written straight from the formulas, one loop nest each.
/// </summary>
internal static class NaiveReference
{
    public static float[] RmsNorm(float[] x, float[] weight, int columns, float epsilon)
    {
        var rows = x.Length / columns;
        var y = new float[x.Length];
        for (var r = 0; r < rows; r++)
        {
            double sum = 0;
            for (var c = 0; c < columns; c++)
            {
                sum += (double)x[(r * columns) + c] * x[(r * columns) + c];
            }

            var inv = 1.0 / Math.Sqrt((sum / columns) + epsilon);
            for (var c = 0; c < columns; c++)
            {
                y[(r * columns) + c] = (float)(x[(r * columns) + c] * inv * weight[c]);
            }
        }

        return y;
    }

    public static float[] Linear(float[] x, float[] w, float[]? bias, int n, int m, int k)
    {
        var y = new float[n * m];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < m; j++)
            {
                double s = bias?[j] ?? 0;
                for (var t = 0; t < k; t++)
                {
                    s += (double)x[(i * k) + t] * w[(j * k) + t];
                }

                y[(i * m) + j] = (float)s;
            }
        }

        return y;
    }

    public static float[] Rope(float[] x, int columns, int headDim, long firstPosition, ReadOnlySpan<float> inverse)
    {
        var y = (float[])x.Clone();
        var rows = x.Length / columns;
        var half = headDim / 2;
        for (var r = 0; r < rows; r++)
        {
            for (var h = 0; h < columns / headDim; h++)
            {
                var b = (r * columns) + (h * headDim);
                for (var i = 0; i < half; i++)
                {
                    var angle = (firstPosition + r) * (double)inverse[i];
                    var (sin, cos) = Math.SinCos(angle);
                    y[b + i] = (float)((x[b + i] * cos) - (x[b + i + half] * sin));
                    y[b + i + half] = (float)((x[b + i + half] * cos) + (x[b + i] * sin));
                }
            }
        }

        return y;
    }

    public static float[] SwiGlu(float[] gate, float[] up) =>
        gate.Select((g, i) => (float)(g / (1 + Math.Exp(-g)) * up[i])).ToArray();

    /// <summary>Causal GQA attention, two passes per row in f64: the contract of <see cref="IComputeBackend.Attention"/>.</summary>
    public static float[] Attention(float[] q, float[] k, float[] v, long queryStart, int rows, int hq, int hkv, int d)
    {
        var o = new float[q.Length];
        var group = hq / hkv;
        var scale = 1.0 / Math.Sqrt(d);
        var scores = new double[queryStart + rows];
        for (var r = 0; r < rows; r++)
        {
            var position = queryStart + r;
            for (var h = 0; h < hq; h++)
            {
                var kvh = h / group;
                var qb = ((long)r * hq * d) + ((long)h * d);
                var max = double.NegativeInfinity;
                for (long j = 0; j <= position; j++)
                {
                    var kb = (j * hkv * d) + ((long)kvh * d);
                    double s = 0;
                    for (var c = 0; c < d; c++)
                    {
                        s += (double)q[qb + c] * k[kb + c];
                    }

                    scores[j] = s * scale;
                    max = Math.Max(max, scores[j]);
                }

                double sum = 0;
                var acc = new double[d];
                for (long j = 0; j <= position; j++)
                {
                    var e = Math.Exp(scores[j] - max);
                    sum += e;
                    var vb = (j * hkv * d) + ((long)kvh * d);
                    for (var c = 0; c < d; c++)
                    {
                        acc[c] += e * v[vb + c];
                    }
                }

                for (var c = 0; c < d; c++)
                {
                    o[qb + c] = (float)(acc[c] / sum);
                }
            }
        }

        return o;
    }
}
