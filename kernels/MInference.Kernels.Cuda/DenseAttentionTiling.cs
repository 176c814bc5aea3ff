namespace MInference.Kernels.Cuda;

/// <summary>
/// One tiling of the tensor-core dense attention kernel (flash_attention_mma.cu, which instantiates
/// exactly the tilings of <see cref="All"/>): a block of <see cref="Warps"/> warps owns
/// <see cref="QueryRows"/> query rows (<see cref="RowTiles"/> 16-row tiles per warp) of one head and
/// streams K/V tiles of <see cref="KeyTile"/> keys through a <see cref="Stages"/>-deep cp.async pipeline.
/// </summary>
/// <remarks>
/// <see cref="PackHeads"/>: the block's <see cref="RowTiles"/> row tiles are that many query heads of one
/// GQA group at the same <c>Warps * 16</c> positions, so each K/V tile in shared memory serves them all;
/// the grid then runs over head groups, and the group size must be a multiple of <see cref="RowTiles"/>.
/// </remarks>
public sealed record DenseAttentionTiling(int HeadDim, int Warps, int RowTiles, int KeyTile, int Stages, bool PackHeads = false)
{
    /// <summary>bf16 elements each shared-memory row is padded by, so ldmatrix rows fall in distinct banks.</summary>
    public const int RowPad = 8;

    /// <summary>d 64: 128 rows x 64 keys, 3 stages.</summary>
    public static DenseAttentionTiling D64 { get; } = new(64, 4, 2, 64, 3);

    /// <summary>d 128, the first version: 128 rows x 32 keys, 3 stages (87 KB shared).</summary>
    public static DenseAttentionTiling D128Keys32Stages3 { get; } = new(128, 4, 2, 32, 3);

    /// <summary>d 128, FlashAttention-2's tile: 128 rows x 64 keys, 2 stages (104 KB).</summary>
    public static DenseAttentionTiling D128Keys64Stages2 { get; } = new(128, 4, 2, 64, 2);

    /// <summary>d 128, deeper pipeline: 128 rows x 32 keys, 4 stages (104 KB).</summary>
    public static DenseAttentionTiling D128Keys32Stages4 { get; } = new(128, 4, 2, 32, 4);

    /// <summary>d 128, 256 rows (8 warps x 2 row tiles) x 64 keys, 2 stages (139 KB, one block per SM).</summary>
    public static DenseAttentionTiling D128Rows256Keys64 { get; } = new(128, 8, 2, 64, 2);

    /// <summary>d 128, 128 rows (8 warps x 1 row tile) x 64 keys, 2 stages (104 KB).</summary>
    public static DenseAttentionTiling D128Warps8Keys64 { get; } = new(128, 8, 1, 64, 2);

    /// <summary>d 128, GQA-packed: 64 positions x 2 heads, 64 keys, 2 stages (104 KB).</summary>
    public static DenseAttentionTiling D128Keys64Stages2Packed { get; } = new(128, 4, 2, 64, 2, PackHeads: true);

    /// <summary>d 128, GQA-packed: 64 positions x 2 heads, 32 keys, 3 stages (87 KB).</summary>
    public static DenseAttentionTiling D128Keys32Stages3Packed { get; } = new(128, 4, 2, 32, 3, PackHeads: true);

    /// <summary>d 128, GQA-packed: 128 positions x 2 heads, 64 keys, 2 stages (139 KB, one block per SM).</summary>
    public static DenseAttentionTiling D128Rows256Keys64Packed { get; } = new(128, 8, 2, 64, 2, PackHeads: true);

    /// <summary>Every tiling the fatbin holds.</summary>
    public static IReadOnlyList<DenseAttentionTiling> All { get; } =
    [
        D64, D128Keys32Stages3, D128Keys64Stages2, D128Keys32Stages4, D128Rows256Keys64, D128Warps8Keys64,
        D128Keys64Stages2Packed, D128Keys32Stages3Packed, D128Rows256Keys64Packed,
    ];

    /// <summary>Query rows per block (positions x packed heads).</summary>
    public int QueryRows => Warps * RowTiles * 16;

    /// <summary>Query positions per block.</summary>
    public int PositionRows => PackHeads ? Warps * 16 : QueryRows;

    /// <summary>Query heads per block.</summary>
    public int HeadsPerBlock => PackHeads ? RowTiles : 1;

    public int Threads => Warps * 32;

    /// <summary>The Q tile plus Stages K and V tiles, rows padded.</summary>
    public int SharedBytes => (QueryRows + (2 * Stages * KeyTile)) * (HeadDim + RowPad) * 2;

    public string KernelName => $"flash_attention_mma_d{HeadDim}_w{Warps}_r{RowTiles}_k{KeyTile}_s{Stages}" + (PackHeads ? "_gqa" : "");

    /// <summary>Whether this tiling can run query heads in groups of <paramref name="groupSize"/> (query heads per KV head).</summary>
    public bool Serves(int groupSize) => groupSize % HeadsPerBlock == 0;

    /// <summary>
    /// The tiling <see cref="CudaBackend.Attention"/> runs for a head dim and GQA group size unless told
    /// otherwise: the fastest measured on the H100 (docs/PERFORMANCE.md: 256 rows x 64 keys, 360 TFLOP/s
    /// at 128K), which packs no heads and so serves every group size; a packed default would fall back to
    /// its unpacked twin for groups it can't split.
    /// </summary>
    public static DenseAttentionTiling Default(int headDim, int groupSize)
        => headDim == 64 ? D64 : D128Rows256Keys64.Serves(groupSize) ? D128Rows256Keys64 : D128Keys64Stages2;

    public override string ToString() => $"d{HeadDim} {PositionRows}x{KeyTile}{(PackHeads ? $" x{RowTiles} heads" : "")} s{Stages} w{Warps}";
}
