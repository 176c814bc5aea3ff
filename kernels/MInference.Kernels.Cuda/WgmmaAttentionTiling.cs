namespace MInference.Kernels.Cuda;

/// <summary>
/// One tiling of the Hopper warpgroup-MMA attention kernels (flash_attention_wgmma.cu, sm_90a machine code
/// only): a block of <see cref="WarpGroups"/> warpgroups owns <see cref="QueryRows"/> query rows of one head
/// (64 per warpgroup) and streams K/V tiles of <see cref="KeyTile"/> keys through a <see cref="Stages"/>-deep
/// cp.async pipeline, shared tiles in wgmma's 128-byte swizzle (rows unpadded, 1 KB alignment slack).
/// </summary>
public sealed record WgmmaAttentionTiling(int WarpGroups, int KeyTile, int Stages)
{
    /// <summary>Head dim the wgmma kernels are built for.</summary>
    public const int HeadDim = 128;

    /// <summary>
    /// The dense tiling (192 rows x 64 keys, 3 stages, 145 KB): the fastest variant of deploy/gpu/wgmma's
    /// harness on the H100, 427-437 TFLOP/s at 32K-128K against 358-367 for the mma.sync 256 x 64 tiling.
    /// </summary>
    public static WgmmaAttentionTiling Dense { get; } = new(3, 64, 3);

    /// <summary>The A-shape kernels' tiling (the same shape on the sink + window tile walk).</summary>
    public static WgmmaAttentionTiling AShape { get; } = new(3, 64, 3);

    /// <summary>The block-sparse kernel's tiling: one warpgroup per 64-row query block of the index, 64-key blocks, 2 stages (81 KB, two blocks per SM).</summary>
    public static WgmmaAttentionTiling BlockSparse { get; } = new(1, 64, 2);

    public int QueryRows => WarpGroups * 64;

    public int Threads => WarpGroups * 128;

    /// <summary>1 KB so the tiles can start on 1024-byte boundaries, then the Q tile and Stages K and V tiles.</summary>
    public int SharedBytes => 1024 + ((QueryRows + (2 * Stages * KeyTile)) * HeadDim * 2);

    public string KernelName => $"flash_attention_wgmma_d{HeadDim}_g{WarpGroups}_k{KeyTile}_s{Stages}";

    /// <summary>
    /// Whether a device can run the wgmma kernels: the fatbin holds them as sm_90a machine code, which loads
    /// on compute capability 9.0 alone (elsewhere the PTX fallback of those names traps).
    /// </summary>
    public static bool Supports(CudaDeviceInfo device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return device.ComputeMajor == 9 && device.ComputeMinor == 0;
    }

    public override string ToString() => $"wgmma d{HeadDim} {QueryRows}x{KeyTile} s{Stages} g{WarpGroups}";
}
