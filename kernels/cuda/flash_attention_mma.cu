// Dense causal flash attention forward on tensor cores (FlashAttention-2 shape, sm_80+).
//
// Same contract and layouts as flash_attention.cu. A block owns MmaQueryRows (128) rows of one
// query head; each of its 4 warps owns two 16-row tiles and computes S = Q·Kᵀ and O += P·V with
// mma.m16n8k16 (bf16 in, f32 accumulate). K/V tiles of KeyTile keys stream through a 3-stage
// cp.async pipeline with one barrier per tile. The S accumulators are re-packed in registers as
// the A operand of P·V (their layouts line up), so P never touches shared memory. Rows are padded by 8 bf16 so ldmatrix rows fall in distinct banks.
#include "mma_primitives.cuh"

constexpr int MmaWarps = 4;
constexpr int MmaThreads = MmaWarps * 32;
// Each warp owns MmaRowTiles 16-row tiles: every K/V fragment it loads from shared memory then
// feeds MmaRowTiles mma instructions, halving shared-memory traffic per flop (the limit of the
// one-tile version).
constexpr int MmaRowTiles = 2;
constexpr int MmaQueryRows = MmaWarps * MmaRowTiles * 16;
constexpr int MmaPad = 8;
constexpr int MmaStages = 3;

template <int D, int KeyTile>
__device__ __forceinline__ void flash_attention_mma(
    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, bf16* __restrict__ o,
    long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
    static_assert(D % 16 == 0 && KeyTile % 16 == 0, "head_dim and key tile must be multiples of 16");
    constexpr int Stride = D + MmaPad;
    constexpr int KSteps = D / 16;
    constexpr int ScoreTiles = KeyTile / 8;
    constexpr int OutTiles = D / 8;
    constexpr int Chunks = D / 8;
    constexpr int WarpRows = MmaRowTiles * 16;

    extern __shared__ __align__(16) unsigned char shared_raw[];
    bf16* sQ = reinterpret_cast<bf16*>(shared_raw);
    bf16* sK = sQ + MmaQueryRows * Stride;
    bf16* sV = sK + MmaStages * KeyTile * Stride;

    const int head = blockIdx.x;
    const int kv_head = head / (hq / hkv);
    const long long q_block = (long long)gridDim.y - 1 - blockIdx.y;
    const long long row0 = q_block * MmaQueryRows;
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
        bool valid = row0 + r < q_rows;
        const bf16* src = valid ? q + (row0 + r) * q_stride + (long long)head * D + c : q;
        cp_async_16(shared_address(sQ + r * Stride + c), src, valid);
    }

    const long long block_last_row = min(row0 + MmaQueryRows, q_rows) - 1;
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

    // Three stages: tiles t+1 and t+2 are in flight while t is computed.
    load_tile(0, 0);
    cp_async_commit();
    if (tiles > 1) load_tile(1, 1);
    cp_async_commit();

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

    const long long warp_first = query_start + row0 + warp * WarpRows;
    const long long warp_last = warp_first + WarpRows - 1;
    const bf16* warp_q = sQ + warp * WarpRows * Stride;

    for (int tile = 0; tile < tiles; tile++)
    {
        const int stage = tile % MmaStages;
        // Groups 0..tile+1 are committed: all but the newest done means tile's group is done.
        cp_async_wait<1>();
        __syncthreads();
        // Every warp is past the barrier, so done with tile - 1, whose stage is refilled now.
        if (tile + 2 < tiles) load_tile(tile + 2, (tile + 2) % MmaStages);
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
                    const bf16* p = warp_q + (mt * 16 + (matrix & 1) * 8 + matrix_row) * Stride + ks * 16 + (matrix >> 1) * 8;
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
                const long long tile_first = warp_first + mt * 16;
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
            const long long row = row0 + warp * WarpRows + mt * 16 + group + h * 8;
            if (row < q_rows)
            {
                const float inv = 1.0f / total;
                bf16* dst = o + row * q_stride + (long long)head * D + quad * 2;
#pragma unroll
                for (int t = 0; t < OutTiles; t++)
                {
                    *reinterpret_cast<__nv_bfloat162*>(dst + t * 8) = __floats2bfloat162_rn(out[mt][t][2 * h] * inv, out[mt][t][2 * h + 1] * inv);
                }
            }
        }
    }
}

// Key tiles: 64 keys at d 64; 32 at d 128, where 2 row tiles of 128-wide accumulators already
// take 128 registers a thread.
constexpr int MmaKeysD64 = 64;
constexpr int MmaKeysD128 = 32;

extern "C" __global__ void __launch_bounds__(MmaThreads) flash_attention_mma_d64(
    const bf16* q, const bf16* k, const bf16* v, bf16* o, long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
    flash_attention_mma<64, MmaKeysD64>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2);
}

extern "C" __global__ void __launch_bounds__(MmaThreads) flash_attention_mma_d128(
    const bf16* q, const bf16* k, const bf16* v, bf16* o, long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
    flash_attention_mma<128, MmaKeysD128>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2);
}
