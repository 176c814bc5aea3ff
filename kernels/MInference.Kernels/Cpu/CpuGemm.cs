using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MInference.Kernels.Cpu;

/// <summary>
/// <c>C[n, m] = A[n, k] · W[m, k]ᵀ (+ bias)</c> in f32: W is packed into panels of
/// <see cref="PanelWidth"/> outputs stored k-major, so the inner kernel broadcasts one A element and
/// multiplies it into two Vector256 lanes of W. Work is split into tiles of rows x panels over the workers.
/// </summary>
internal static unsafe class CpuGemm
{
    /// <summary>Outputs per packed panel (NR): two Vector256&lt;float&gt;.</summary>
    internal const int PanelWidth = 16;

    /// <summary>Input rows per micro-kernel call (MR): 6 x 2 accumulators + 2 panel vectors + 1 broadcast fit the 16 AVX2 registers.</summary>
    internal const int MicroRows = 6;

    /// <summary>Depth per pass (KC): a 256 x 16 panel slice is 16 KiB and stays in L1.</summary>
    internal const int DepthBlock = 256;

    /// <summary>Input rows per tile (MC): 96 rows x 256 depth x 4 B = 96 KiB of A stays in L2.</summary>
    internal const int TileRows = 96;

    /// <summary>Panels per tile: 128 outputs.</summary>
    internal const int TilePanels = 8;

    /// <summary>Packs W [m, k] into ceil(m / 16) panels, each k rows of 16 outputs; outputs past m are zero.</summary>
    internal static float[] Pack(CpuTensor weight)
    {
        var m = checked((int)weight.Rows);
        var k = weight.Columns;
        var panels = (m + PanelWidth - 1) / PanelWidth;
        var packed = GC.AllocateUninitializedArray<float>(checked(panels * k * PanelWidth), pinned: true);
        var source = weight.Pointer;
        fixed (float* destination = packed)
        {
            for (var p = 0; p < panels; p++)
            {
                var panel = destination + ((long)p * k * PanelWidth);
                for (var j = 0; j < PanelWidth; j++)
                {
                    var row = (p * PanelWidth) + j;
                    if (row < m)
                    {
                        var w = source + ((long)row * k);
                        for (var kk = 0; kk < k; kk++)
                        {
                            panel[(kk * PanelWidth) + j] = w[kk];
                        }
                    }
                    else
                    {
                        for (var kk = 0; kk < k; kk++)
                        {
                            panel[(kk * PanelWidth) + j] = 0f;
                        }
                    }
                }
            }
        }

        return packed;
    }

    internal static void Multiply(CpuTensor input, CpuTensor weight, CpuTensor? bias, CpuTensor output, int maxDegreeOfParallelism)
    {
        var packed = weight.GetPackedForLinear();
        var n = checked((int)input.Rows);
        var k = input.Columns;
        var m = output.Columns;
        var rowTiles = (n + TileRows - 1) / TileRows;
        var panels = (m + PanelWidth - 1) / PanelWidth;
        var panelTiles = (panels + TilePanels - 1) / TilePanels;
        var tiles = rowTiles * panelTiles;
        var a = (nint)input.Pointer;
        var c = (nint)output.Pointer;
        var b = bias is null ? 0 : (nint)bias.Pointer;

        if (tiles == 1 || maxDegreeOfParallelism == 1)
        {
            for (var t = 0; t < tiles; t++)
            {
                RunTile(t, panelTiles, n, k, m, panels, (float*)a, packed, (float*)b, (float*)c);
            }

            return;
        }

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };
        Parallel.For(0, tiles, parallel, t => RunTile(t, panelTiles, n, k, m, panels, (float*)a, packed, (float*)b, (float*)c));
    }

    private static void RunTile(int tile, int panelTiles, int n, int k, int m, int panels, float* a, float[] packed, float* bias, float* c)
    {
        var rowStart = tile / panelTiles * TileRows;
        var rowEnd = Math.Min(n, rowStart + TileRows);
        var panelStart = tile % panelTiles * TilePanels;
        var panelEnd = Math.Min(panels, panelStart + TilePanels);

        fixed (float* packedBase = packed)
        {
            for (var depthStart = 0; depthStart < k; depthStart += DepthBlock)
            {
                var depth = Math.Min(DepthBlock, k - depthStart);
                var accumulate = depthStart > 0;
                for (var p = panelStart; p < panelEnd; p++)
                {
                    var panel = packedBase + ((((long)p * k) + depthStart) * PanelWidth);
                    var columns = Math.Min(PanelWidth, m - (p * PanelWidth));
                    var row = rowStart;
                    for (; row + MicroRows <= rowEnd; row += MicroRows)
                    {
                        Kernel6(a + ((long)row * k) + depthStart, k, panel, depth, c + ((long)row * m) + (p * PanelWidth), m, accumulate, columns);
                    }

                    for (; row < rowEnd; row++)
                    {
                        Kernel1(a + ((long)row * k) + depthStart, panel, depth, c + ((long)row * m) + (p * PanelWidth), accumulate, columns);
                    }
                }
            }
        }

        if (bias != null)
        {
            var columnStart = panelStart * PanelWidth;
            var columnEnd = Math.Min(m, panelEnd * PanelWidth);
            var width = columnEnd - columnStart;
            var biasSpan = new ReadOnlySpan<float>(bias + columnStart, width);
            for (var row = rowStart; row < rowEnd; row++)
            {
                var target = new Span<float>(c + ((long)row * m) + columnStart, width);
                System.Numerics.Tensors.TensorPrimitives.Add(target, biasSpan, target);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6(float* a, int lda, float* b, int depth, float* c, int ldc, bool accumulate, int columns)
    {
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (accumulate)
        {
            if (columns == PanelWidth)
            {
                c00 = Vector256.Load(c); c01 = Vector256.Load(c + 8);
                c10 = Vector256.Load(c + ldc); c11 = Vector256.Load(c + ldc + 8);
                c20 = Vector256.Load(c + (2 * ldc)); c21 = Vector256.Load(c + (2 * ldc) + 8);
                c30 = Vector256.Load(c + (3 * ldc)); c31 = Vector256.Load(c + (3 * ldc) + 8);
                c40 = Vector256.Load(c + (4 * ldc)); c41 = Vector256.Load(c + (4 * ldc) + 8);
                c50 = Vector256.Load(c + (5 * ldc)); c51 = Vector256.Load(c + (5 * ldc) + 8);
            }
            else
            {
                var partial = stackalloc float[PanelWidth * MicroRows];
                for (var r = 0; r < MicroRows; r++)
                {
                    for (var j = 0; j < PanelWidth; j++)
                    {
                        partial[(r * PanelWidth) + j] = j < columns ? c[(r * ldc) + j] : 0f;
                    }
                }

                c00 = Vector256.Load(partial); c01 = Vector256.Load(partial + 8);
                c10 = Vector256.Load(partial + 16); c11 = Vector256.Load(partial + 24);
                c20 = Vector256.Load(partial + 32); c21 = Vector256.Load(partial + 40);
                c30 = Vector256.Load(partial + 48); c31 = Vector256.Load(partial + 56);
                c40 = Vector256.Load(partial + 64); c41 = Vector256.Load(partial + 72);
                c50 = Vector256.Load(partial + 80); c51 = Vector256.Load(partial + 88);
            }
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }

        var a0 = a;
        var a1 = a + lda;
        var a2 = a + (2 * lda);
        var a3 = a + (3 * lda);
        var a4 = a + (4 * lda);
        var a5 = a + (5 * lda);
        for (var kk = 0; kk < depth; kk++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            b += PanelWidth;
            var x = Vector256.Create(a0[kk]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a1[kk]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a2[kk]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a3[kk]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a4[kk]);
            c40 = Vector256.FusedMultiplyAdd(x, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a5[kk]);
            c50 = Vector256.FusedMultiplyAdd(x, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
        }

        if (columns == PanelWidth)
        {
            c00.Store(c); c01.Store(c + 8);
            c10.Store(c + ldc); c11.Store(c + ldc + 8);
            c20.Store(c + (2 * ldc)); c21.Store(c + (2 * ldc) + 8);
            c30.Store(c + (3 * ldc)); c31.Store(c + (3 * ldc) + 8);
            c40.Store(c + (4 * ldc)); c41.Store(c + (4 * ldc) + 8);
            c50.Store(c + (5 * ldc)); c51.Store(c + (5 * ldc) + 8);
        }
        else
        {
            var partial = stackalloc float[PanelWidth * MicroRows];
            c00.Store(partial); c01.Store(partial + 8);
            c10.Store(partial + 16); c11.Store(partial + 24);
            c20.Store(partial + 32); c21.Store(partial + 40);
            c30.Store(partial + 48); c31.Store(partial + 56);
            c40.Store(partial + 64); c41.Store(partial + 72);
            c50.Store(partial + 80); c51.Store(partial + 88);
            for (var r = 0; r < MicroRows; r++)
            {
                for (var j = 0; j < columns; j++)
                {
                    c[(r * ldc) + j] = partial[(r * PanelWidth) + j];
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel1(float* a, float* b, int depth, float* c, bool accumulate, int columns)
    {
        var partial = stackalloc float[PanelWidth];
        Vector256<float> c0, c1;
        if (accumulate)
        {
            for (var j = 0; j < PanelWidth; j++)
            {
                partial[j] = j < columns ? c[j] : 0f;
            }

            c0 = Vector256.Load(partial);
            c1 = Vector256.Load(partial + 8);
        }
        else
        {
            c0 = c1 = Vector256<float>.Zero;
        }

        for (var kk = 0; kk < depth; kk++)
        {
            var x = Vector256.Create(a[kk]);
            c0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b), c0);
            c1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 8), c1);
            b += PanelWidth;
        }

        c0.Store(partial);
        c1.Store(partial + 8);
        for (var j = 0; j < columns; j++)
        {
            c[j] = partial[j];
        }
    }
}
