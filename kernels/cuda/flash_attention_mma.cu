// Dense causal flash attention forward on tensor cores (FlashAttention-2 shape, sm_80+).
//
// Same contract and layouts as flash_attention.cu. A block owns QueryRows = Warps * RowTiles * 16
// rows of one query head; each warp owns RowTiles 16-row tiles and computes S = Q·Kᵀ and O += P·V
// with mma.m16n8k16 (bf16 in, f32 accumulate). K/V tiles of KeyTile keys stream through a
// Stages-deep cp.async pipeline with one barrier per tile. The S accumulators are re-packed in
// registers as the A operand of P·V (their layouts line up), so P never touches shared memory. Rows
// are padded by 8 bf16 so ldmatrix rows fall in distinct banks. The tilings the host may launch are
// instantiated at the end of this file under names that spell their parameters; CudaBackend's
// DenseAttentionTiling table mirrors them (shared memory per block included).
#include "mma_primitives.cuh"

constexpr int MmaPad = 8;

template <int D, int KeyTile, int Stages, int Warps, int RowTiles, bool PackHeads>
__device__ __forceinline__ void flash_attention_mma(
    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, bf16* __restrict__ o,
    long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
    static_assert(D % 16 == 0 && KeyTile % 16 == 0, "head_dim and key tile must be multiples of 16");
    static_assert(Stages >= 2, "the pipeline needs at least two stages");
    constexpr int MmaThreads = Warps * 32;
    constexpr int MmaQueryRows = Warps * RowTiles * 16;
    constexpr int MmaRowTiles = RowTiles;
    constexpr int MmaStages = Stages;
    constexpr int Stride = D + MmaPad;
    constexpr int KSteps = D / 16;
    constexpr int ScoreTiles = KeyTile / 8;
    constexpr int OutTiles = D / 8;
    constexpr int Chunks = D / 8;
    constexpr int WarpRows = MmaRowTiles * 16;
    // PackHeads: the block's row tiles are RowTiles query heads of one GQA group at the same Warps * 16
    // positions (row tile mt of warp w = head mt, positions 16w..16w+15), so each K/V tile in shared
    // memory serves RowTiles heads and both row tiles of a warp share one causal limit.
    constexpr int PositionRows = PackHeads ? Warps * 16 : MmaQueryRows;

    extern __shared__ __align__(16) unsigned char shared_raw[];
    bf16* sQ = reinterpret_cast<bf16*>(shared_raw);
    bf16* sK = sQ + MmaQueryRows * Stride;
    bf16* sV = sK + MmaStages * KeyTile * Stride;

    const int head = PackHeads ? blockIdx.x * RowTiles : blockIdx.x;
    const int kv_head = head / (hq / hkv);
    const long long q_block = (long long)gridDim.y - 1 - blockIdx.y;
    const long long row0 = q_block * PositionRows;
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int group = lane >> 2;
    const int quad = lane & 3;
    const int matrix = lane >> 3;
    const int matrix_row = lane & 7;

    const long long q_stride = (long long)hq * D;
    const long long kv_stride = (long long)hkv * D;
    const bf16* k_head = k + (long long)kv_head * D;
    const bf16* v_head = v + (long long)kv_head * D;

    for (int idx = threadIdx.x; idx < MmaQueryRows * Chunks; idx += MmaThreads)
    {
        int r = idx / Chunks;
        int c = (idx - r * Chunks) * 8;
        // Packed: shared row r holds head r / PositionRows at position r % PositionRows.
        const int position = PackHeads ? r % PositionRows : r;
        const int row_head = PackHeads ? head + r / PositionRows : head;
        bool valid = row0 + position < q_rows;
        const bf16* src = valid ? q + (row0 + position) * q_stride + (long long)row_head * D + c : q;
        cp_async_16(shared_address(sQ + r * Stride + c), src, valid);
    }

    const long long block_last_row = min(row0 + PositionRows, q_rows) - 1;
    const long long kv_end = query_start + block_last_row + 1;
    const int tiles = (int)((kv_end + KeyTile - 1) / KeyTile);

    auto load_tile = [&](int tile, int stage) {
        const long long kt = (long long)tile * KeyTile;
        bf16* dk = sK + stage * KeyTile * Stride;
        bf16* dv = sV + stage * KeyTile * Stride;
        for (int idx = threadIdx.x; idx < KeyTile * Chunks; idx += MmaThreads)
        {
            int r = idx / Chunks;
            int c = (idx - r * Chunks) * 8;
            bool valid = kt + r < kv_end;
            long long offset = valid ? (kt + r) * kv_stride + c : 0;
            cp_async_16(shared_address(dk + r * Stride + c), k_head + offset, valid);
            cp_async_16(shared_address(dv + r * Stride + c), v_head + offset, valid);
        }
    };

    // Stages - 1 tiles are in flight while one is computed; one commit group per tile (possibly empty).
#pragma unroll
    for (int t = 0; t < MmaStages - 1; t++)
    {
        if (t < tiles) load_tile(t, t);
        cp_async_commit();
    }

    float out[MmaRowTiles][OutTiles][4];
    float row_max[MmaRowTiles][2];
    float row_sum[MmaRowTiles][2];
#pragma unroll
    for (int mt = 0; mt < MmaRowTiles; mt++)
    {
#pragma unroll
        for (int t = 0; t < OutTiles; t++)
        {
            out[mt][t][0] = out[mt][t][1] = out[mt][t][2] = out[mt][t][3] = 0.0f;
        }
        row_max[mt][0] = row_max[mt][1] = -INFINITY;
        row_sum[mt][0] = row_sum[mt][1] = 0.0f;
    }

    // Unpacked: the warp's rows are WarpRows consecutive positions, row tile mt at +16 mt. Packed: 16
    // positions, row tile mt in head mt's part of the Q tile.
    constexpr int WarpPositions = PackHeads ? 16 : WarpRows;
    constexpr int TilePositionStep = PackHeads ? 0 : 16;
    constexpr int TileSharedStep = PackHeads ? PositionRows : 16;
    const long long warp_first = query_start + row0 + warp * WarpPositions;
    const long long warp_last = warp_first + WarpPositions - 1;
    const bf16* warp_q = sQ + warp * WarpPositions * Stride;

    for (int tile = 0; tile < tiles; tile++)
    {
        const int stage = tile % MmaStages;
        // Groups 0..tile+Stages-2 are committed: all but the newest Stages-2 done means tile's group is done.
        cp_async_wait<MmaStages - 2>();
        __syncthreads();
        // Every warp is past the barrier, so done with tile - 1, whose stage is refilled now.
        if (tile + MmaStages - 1 < tiles) load_tile(tile + MmaStages - 1, (tile + MmaStages - 1) % MmaStages);
        cp_async_commit();

        const long long kt = (long long)tile * KeyTile;
        if (kt <= warp_last)
        {
            const bf16* tk = sK + stage * KeyTile * Stride;
            const bf16* tv = sV + stage * KeyTile * Stride;

            float s[MmaRowTiles][ScoreTiles][4];
#pragma unroll
            for (int mt = 0; mt < MmaRowTiles; mt++)
            {
#pragma unroll
                for (int t = 0; t < ScoreTiles; t++)
                {
                    s[mt][t][0] = s[mt][t][1] = s[mt][t][2] = s[mt][t][3] = 0.0f;
                }
            }
#pragma unroll
            for (int ks = 0; ks < KSteps; ks++)
            {
                // Q fragments come from shared memory each time: registers go to the accumulators.
                uint32_t qf[MmaRowTiles][4];
#pragma unroll
                for (int mt = 0; mt < MmaRowTiles; mt++)
                {
                    const bf16* p = warp_q + (mt * TileSharedStep + (matrix & 1) * 8 + matrix_row) * Stride + ks * 16 + (matrix >> 1) * 8;
                    ldmatrix_x4(qf[mt][0], qf[mt][1], qf[mt][2], qf[mt][3], shared_address(p));
                }
#pragma unroll
                for (int np = 0; np < ScoreTiles / 2; np++)
                {
                    uint32_t b0, b1, b2, b3;
                    const bf16* p = tk + (np * 16 + (matrix >> 1) * 8 + matrix_row) * Stride + ks * 16 + (matrix & 1) * 8;
                    ldmatrix_x4(b0, b1, b2, b3, shared_address(p));
#pragma unroll
                    for (int mt = 0; mt < MmaRowTiles; mt++)
                    {
                        mma_bf16_16816(s[mt][2 * np], qf[mt], b0, b1);
                        mma_bf16_16816(s[mt][2 * np + 1], qf[mt], b2, b3);
                    }
                }
            }

#pragma unroll
            for (int mt = 0; mt < MmaRowTiles; mt++)
            {
                // Only tiles that reach past the row tile's first row need the causal mask; there
                // the comparison runs on 32-bit offsets from the tile's first key.
                const long long tile_first = warp_first + mt * TilePositionStep;
                if (kt + KeyTile - 1 > tile_first)
                {
                    const int limit = (int)(tile_first + group - kt);
#pragma unroll
                    for (int t = 0; t < ScoreTiles; t++)
                    {
#pragma unroll
                        for (int e = 0; e < 4; e++)
                        {
                            if (t * 8 + quad * 2 + (e & 1) > limit + (e >> 1) * 8) s[mt][t][e] = -INFINITY;
                        }
                    }
                }

                // Maxima are kept unscaled (the scale is positive); the scale is folded into the
                // exponent's FFMA below.
                float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
                for (int t = 0; t < ScoreTiles; t++)
                {
                    tile_max[0] = fmaxf(tile_max[0], fmaxf(s[mt][t][0], s[mt][t][1]));
                    tile_max[1] = fmaxf(tile_max[1], fmaxf(s[mt][t][2], s[mt][t][3]));
                }

                float alpha[2];
                float scaled_max[2];
#pragma unroll
                for (int h = 0; h < 2; h++)
                {
                    float mx = tile_max[h];
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                    // Key 0 is in tile 0 and visible to every row, so the new maximum is finite.
                    const float m_new = fmaxf(row_max[mt][h], mx);
                    alpha[h] = fast_exp2((row_max[mt][h] - m_new) * scale_log2);
                    row_max[mt][h] = m_new;
                    scaled_max[h] = m_new * scale_log2;
                }

                float tile_sum[2] = {0.0f, 0.0f};
#pragma unroll
                for (int t = 0; t < ScoreTiles; t++)
                {
#pragma unroll
                    for (int e = 0; e < 4; e++)
                    {
                        s[mt][t][e] = fast_exp2(fmaf(s[mt][t][e], scale_log2, -scaled_max[e >> 1]));
                        tile_sum[e >> 1] += s[mt][t][e];
                    }
                }
                row_sum[mt][0] = row_sum[mt][0] * alpha[0] + tile_sum[0];
                row_sum[mt][1] = row_sum[mt][1] * alpha[1] + tile_sum[1];
                // Once the running maxima settle, alpha is exactly 1 for every row: skip the
                // D/2 multiplies per row tile (warp-uniform test).
                if (__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f))
                {
#pragma unroll
                    for (int t = 0; t < OutTiles; t++)
                    {
                        out[mt][t][0] *= alpha[0];
                        out[mt][t][1] *= alpha[0];
                        out[mt][t][2] *= alpha[1];
                        out[mt][t][3] *= alpha[1];
                    }
                }
            }

#pragma unroll
            for (int kk = 0; kk < KeyTile / 16; kk++)
            {
                // The S accumulators of keys [16kk, 16kk+16) are, re-packed, the A operand of P·V.
                uint32_t pa[MmaRowTiles][4];
#pragma unroll
                for (int mt = 0; mt < MmaRowTiles; mt++)
                {
                    pa[mt][0] = pack_bf16x2(s[mt][2 * kk][0], s[mt][2 * kk][1]);
                    pa[mt][1] = pack_bf16x2(s[mt][2 * kk][2], s[mt][2 * kk][3]);
                    pa[mt][2] = pack_bf16x2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
                    pa[mt][3] = pack_bf16x2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
                }
#pragma unroll
                for (int op = 0; op < OutTiles / 2; op++)
                {
                    uint32_t b0, b1, b2, b3;
                    const bf16* p = tv + (kk * 16 + (matrix & 1) * 8 + matrix_row) * Stride + op * 16 + (matrix >> 1) * 8;
                    ldmatrix_x4_trans(b0, b1, b2, b3, shared_address(p));
#pragma unroll
                    for (int mt = 0; mt < MmaRowTiles; mt++)
                    {
                        mma_bf16_16816(out[mt][2 * op], pa[mt], b0, b1);
                        mma_bf16_16816(out[mt][2 * op + 1], pa[mt], b2, b3);
                    }
                }
            }
        }
    }

#pragma unroll
    for (int mt = 0; mt < MmaRowTiles; mt++)
    {
#pragma unroll
        for (int h = 0; h < 2; h++)
        {
            float total = row_sum[mt][h];
            total += __shfl_xor_sync(0xffffffffu, total, 1);
            total += __shfl_xor_sync(0xffffffffu, total, 2);
            const long long row = row0 + warp * WarpPositions + mt * TilePositionStep + group + h * 8;
            if (row < q_rows)
            {
                const float inv = 1.0f / total;
                const int row_head = PackHeads ? head + mt : head;
                bf16* dst = o + row * q_stride + (long long)row_head * D + quad * 2;
#pragma unroll
                for (int t = 0; t < OutTiles; t++)
                {
                    *reinterpret_cast<__nv_bfloat162*>(dst + t * 8) = __floats2bfloat162_rn(out[mt][t][2 * h] * inv, out[mt][t][2 * h + 1] * inv);
                }
            }
        }
    }
}

// The tilings (see DenseAttentionTiling.cs):
// flash_attention_mma_d{D}_w{warps}_r{row tiles per warp}_k{key tile}_s{stages}[_gqa], _gqa for packed heads
// (the grid's x then runs over head pairs). Shared memory per block: (warps * row tiles * 16 + 2 *
// stages * key tile) * (D + 8) * 2 bytes.
#define MINFERENCE_FLASH_MMA(NAME, D, KEYS, STAGES, WARPS, ROWTILES, PACK, MINBLOCKS)                                     \
    extern "C" __global__ void __launch_bounds__(WARPS * 32, MINBLOCKS)                                                   \
        NAME(const bf16* q, const bf16* k, const bf16* v, bf16* o, long long q_rows, long long query_start, int hq,      \
             int hkv, float scale_log2)                                                                                  \
    {                                                                                                                    \
        flash_attention_mma<D, KEYS, STAGES, WARPS, ROWTILES, PACK>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2); \
    }

// d 64: 128 rows x 64 keys, 3 stages (the first tensor-core version's tiling).
MINFERENCE_FLASH_MMA(flash_attention_mma_d64_w4_r2_k64_s3, 64, 64, 3, 4, 2, false, 2)
// d 128, 128 rows (4 warps x 2 row tiles): 32 keys x 3 stages (87 KB, the first version), 64 keys x
// 2 stages (104 KB, FlashAttention-2's tile), 32 keys x 4 stages (104 KB, deeper pipeline).
MINFERENCE_FLASH_MMA(flash_attention_mma_d128_w4_r2_k32_s3, 128, 32, 3, 4, 2, false, 2)
MINFERENCE_FLASH_MMA(flash_attention_mma_d128_w4_r2_k64_s2, 128, 64, 2, 4, 2, false, 2)
MINFERENCE_FLASH_MMA(flash_attention_mma_d128_w4_r2_k32_s4, 128, 32, 4, 4, 2, false, 2)
// d 128, 256 rows (8 warps x 2 row tiles) x 64 keys, 2 stages (139 KB, one block per SM): each K/V
// tile feeds twice the rows, halving L2 -> shared traffic per flop.
MINFERENCE_FLASH_MMA(flash_attention_mma_d128_w8_r2_k64_s2, 128, 64, 2, 8, 2, false, 1)
// d 128, 128 rows (8 warps x 1 row tile) x 64 keys, 2 stages (104 KB): half the registers per thread.
MINFERENCE_FLASH_MMA(flash_attention_mma_d128_w8_r1_k64_s2, 128, 64, 2, 8, 1, false, 2)
// d 128, GQA-packed: two query heads of one group per block, so each K/V tile serves both (half the
// L2 -> shared traffic) and the block spans half as many positions (finer causal blocks).
MINFERENCE_FLASH_MMA(flash_attention_mma_d128_w4_r2_k64_s2_gqa, 128, 64, 2, 4, 2, true, 2)
MINFERENCE_FLASH_MMA(flash_attention_mma_d128_w4_r2_k32_s3_gqa, 128, 32, 3, 4, 2, true, 2)
MINFERENCE_FLASH_MMA(flash_attention_mma_d128_w8_r2_k64_s2_gqa, 128, 64, 2, 8, 2, true, 1)
