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
    /// <summary>Use the AVX-512 kernels (32-wide panels) where the hardware runs them natively.</summary>
    internal static readonly bool Wide = Vector512.IsHardwareAccelerated;

    /// <summary>Outputs per packed panel (NR): two vectors, 32 floats with AVX-512, 16 with AVX2.</summary>
    internal static readonly int PanelWidth = Wide ? 32 : 16;

    /// <summary>Input rows per micro-kernel call (MR): 6 x 2 accumulators + 2 panel vectors + 1 broadcast fit 16 vector registers.</summary>
    internal const int MicroRows = 6;

    /// <summary>Largest panel width, for stack scratch.</summary>
    internal const int MaxPanelWidth = 32;

    /// <summary>Depth per pass (KC): a 256 x 16 panel slice is 16 KiB and stays in L1.</summary>
    internal const int DepthBlock = 256;

    /// <summary>Input rows per tile (MC): 96 rows x 256 depth x 4 B = 96 KiB of A stays in L2.</summary>
    internal const int TileRows = 96;

    /// <summary>Outputs per tile: 128, a whole number of panels at either width.</summary>
    internal const int TileOutputs = 128;

    private static readonly int _tilePanels = TileOutputs / PanelWidth;

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
        var panelTiles = (panels + _tilePanels - 1) / _tilePanels;
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
        var panelStart = tile % panelTiles * _tilePanels;
        var panelEnd = Math.Min(panels, panelStart + _tilePanels);

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
                        Block(a + ((long)row * k) + depthStart, k, panel, depth, c + ((long)row * m) + (p * PanelWidth), m, accumulate, MicroRows, columns);
                    }

                    for (; row < rowEnd; row++)
                    {
                        Block(a + ((long)row * k) + depthStart, k, panel, depth, c + ((long)row * m) + (p * PanelWidth), m, accumulate, 1, columns);
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

    /// <summary>
    /// One micro-block of <paramref name="rows"/> (6 or 1) rows by one panel. A panel cut short by the
    /// edge of W runs in a full-width scratch tile, so the kernels themselves never branch on width.
    /// </summary>
    private static void Block(float* a, int lda, float* b, int depth, float* c, int ldc, bool accumulate, int rows, int columns)
    {
        var width = PanelWidth;
        if (columns == width)
        {
            Kernel(a, lda, b, depth, c, ldc, accumulate, rows);
            return;
        }

        var tile = stackalloc float[MaxPanelWidth * MicroRows];
        for (var r = 0; r < rows; r++)
        {
            for (var j = 0; j < width; j++)
            {
                tile[(r * width) + j] = accumulate && j < columns ? c[((long)r * ldc) + j] : 0f;
            }
        }

        Kernel(a, lda, b, depth, tile, width, accumulate, rows);
        for (var r = 0; r < rows; r++)
        {
            for (var j = 0; j < columns; j++)
            {
                c[((long)r * ldc) + j] = tile[(r * width) + j];
            }
        }
    }

    private static void Kernel(float* a, int lda, float* b, int depth, float* c, int ldc, bool accumulate, int rows)
    {
        if (Wide)
        {
            Kernel<SimdLanes512, Vector512<float>>(a, lda, b, depth, c, ldc, accumulate, rows);
        }
        else
        {
            Kernel<SimdLanes256, Vector256<float>>(a, lda, b, depth, c, ldc, accumulate, rows);
        }
    }

    private static void Kernel<TLanes, TVector>(float* a, int lda, float* b, int depth, float* c, int ldc, bool accumulate, int rows)
        where TLanes : struct, ISimdLanes<TVector>
        where TVector : struct
    {
        if (rows == MicroRows)
        {
            Kernel6<TLanes, TVector>(a, lda, b, depth, c, ldc, accumulate);
        }
        else
        {
            Kernel1<TLanes, TVector>(a, b, depth, c, accumulate);
        }
    }

    /// <summary>
    /// Six rows by one panel of two vectors. Generic over the vector width so one body serves AVX2 and
    /// AVX-512: every instantiation is over structs, so the JIT compiles each width separately and inlines
    /// the lane operations, keeping the twelve accumulators in registers as a hand-written copy would.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6<TLanes, TVector>(float* a, int lda, float* b, int depth, float* c, int ldc, bool accumulate)
        where TLanes : struct, ISimdLanes<TVector>
        where TVector : struct
    {
        var w = TLanes.Count;
        TVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (accumulate)
        {
            c00 = TLanes.Load(c); c01 = TLanes.Load(c + w);
            c10 = TLanes.Load(c + ldc); c11 = TLanes.Load(c + ldc + w);
            c20 = TLanes.Load(c + (2 * ldc)); c21 = TLanes.Load(c + (2 * ldc) + w);
            c30 = TLanes.Load(c + (3 * ldc)); c31 = TLanes.Load(c + (3 * ldc) + w);
            c40 = TLanes.Load(c + (4 * ldc)); c41 = TLanes.Load(c + (4 * ldc) + w);
            c50 = TLanes.Load(c + (5 * ldc)); c51 = TLanes.Load(c + (5 * ldc) + w);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = TLanes.Zero;
        }

        var a0 = a;
        var a1 = a + lda;
        var a2 = a + (2 * lda);
        var a3 = a + (3 * lda);
        var a4 = a + (4 * lda);
        var a5 = a + (5 * lda);
        for (var kk = 0; kk < depth; kk++)
        {
            var b0 = TLanes.Load(b);
            var b1 = TLanes.Load(b + w);
            b += 2 * w;
            var x0 = TLanes.Broadcast(a0[kk]);
            c00 = TLanes.MultiplyAdd(x0, b0, c00);
            c01 = TLanes.MultiplyAdd(x0, b1, c01);
            var x1 = TLanes.Broadcast(a1[kk]);
            c10 = TLanes.MultiplyAdd(x1, b0, c10);
            c11 = TLanes.MultiplyAdd(x1, b1, c11);
            var x2 = TLanes.Broadcast(a2[kk]);
            c20 = TLanes.MultiplyAdd(x2, b0, c20);
            c21 = TLanes.MultiplyAdd(x2, b1, c21);
            var x3 = TLanes.Broadcast(a3[kk]);
            c30 = TLanes.MultiplyAdd(x3, b0, c30);
            c31 = TLanes.MultiplyAdd(x3, b1, c31);
            var x4 = TLanes.Broadcast(a4[kk]);
            c40 = TLanes.MultiplyAdd(x4, b0, c40);
            c41 = TLanes.MultiplyAdd(x4, b1, c41);
            var x5 = TLanes.Broadcast(a5[kk]);
            c50 = TLanes.MultiplyAdd(x5, b0, c50);
            c51 = TLanes.MultiplyAdd(x5, b1, c51);
        }

        TLanes.Store(c00, c); TLanes.Store(c01, c + w);
        TLanes.Store(c10, c + ldc); TLanes.Store(c11, c + ldc + w);
        TLanes.Store(c20, c + (2 * ldc)); TLanes.Store(c21, c + (2 * ldc) + w);
        TLanes.Store(c30, c + (3 * ldc)); TLanes.Store(c31, c + (3 * ldc) + w);
        TLanes.Store(c40, c + (4 * ldc)); TLanes.Store(c41, c + (4 * ldc) + w);
        TLanes.Store(c50, c + (5 * ldc)); TLanes.Store(c51, c + (5 * ldc) + w);
    }

    /// <summary>One row by one panel; generic over the vector width like <see cref="Kernel6{TLanes, TVector}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel1<TLanes, TVector>(float* a, float* b, int depth, float* c, bool accumulate)
        where TLanes : struct, ISimdLanes<TVector>
        where TVector : struct
    {
        var w = TLanes.Count;
        var c0 = accumulate ? TLanes.Load(c) : TLanes.Zero;
        var c1 = accumulate ? TLanes.Load(c + w) : TLanes.Zero;
        for (var kk = 0; kk < depth; kk++)
        {
            var x = TLanes.Broadcast(a[kk]);
            c0 = TLanes.MultiplyAdd(x, TLanes.Load(b), c0);
            c1 = TLanes.MultiplyAdd(x, TLanes.Load(b + w), c1);
            b += 2 * w;
        }

        TLanes.Store(c0, c);
        TLanes.Store(c1, c + w);
    }
}
