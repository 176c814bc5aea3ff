using MInference.Kernels.Backends;

namespace MInference.Kernels.Cpu;

/// <summary>Rotary embeddings in the HF "rotate_half" layout: element i pairs with i + d/2.</summary>
internal static unsafe class CpuRope
{
    internal static void Apply(CpuTensor x, int headDim, long firstPosition, RopeFrequencies frequencies, int maxDegreeOfParallelism)
    {
        var half = headDim / 2;
        var inverse = frequencies.AsSpan().ToArray();
        var heads = x.Columns / headDim;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };
        Parallel.For(
            0,
            x.Rows,
            parallel,
            () => new float[headDim],
            (row, _, table) =>
            {
                // HF forms the angle as an f32 product (inv_freq @ positions in float32) and takes cos/sin of it.
                float position = firstPosition + row;
                for (var i = 0; i < half; i++)
                {
                    var angle = position * inverse[i];
                    (table[i], table[half + i]) = ((float)Math.Cos(angle), (float)Math.Sin(angle));
                }

                var values = x.Row(row);
                for (var h = 0; h < heads; h++)
                {
                    var head = values.Slice(h * headDim, headDim);
                    for (var i = 0; i < half; i++)
                    {
                        var cos = table[i];
                        var sin = table[half + i];
                        var x1 = head[i];
                        var x2 = head[half + i];
                        head[i] = (x1 * cos) - (x2 * sin);
                        head[half + i] = (x2 * cos) + (x1 * sin);
                    }
                }

                return table;
            },
            _ => { });
    }
}
