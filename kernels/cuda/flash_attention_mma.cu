// Dense causal flash attention forward on tensor cores (FlashAttention-2 shape, sm_80+).
//
// Same contract and layouts as flash_attention.cu. A block owns MmaQueryRows rows of one query
// head; each of its 4 warps owns 16 rows, keeps its Q fragments in registers for the whole key
// loop, and computes S = Q·Kᵀ and O += P·V with mma.m16n8k16 (bf16 in, f32 accumulate). K/V tiles
// of MmaKeys keys are double-buffered in shared memory with cp.async. The S accumulators are
// re-packed in registers as the A operand of P·V (their layouts line up), so P never touches
// shared memory. Rows are padded by 8 bf16 so ldmatrix rows fall in distinct banks.
#include "mma_primitives.cuh"

constexpr int MmaQueryRows = 64;
constexpr int MmaKeys = 64;
constexpr int MmaWarps = 4;
constexpr int MmaThreads = MmaWarps * 32;
constexpr int MmaPad = 8;

template <int D>
__device__ __forceinline__ void flash_attention_mma(
    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, bf16* __restrict__ o,
    long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
    static_assert(D % 16 == 0, "head_dim must be a multiple of 16");
    constexpr int Stride = D + MmaPad;
    constexpr int KSteps = D / 16;
    constexpr int ScoreTiles = MmaKeys / 8;
    constexpr int OutTiles = D / 8;
    constexpr int Chunks = D / 8;

    extern __shared__ __align__(16) unsigned char shared_raw[];
    bf16* sQ = reinterpret_cast<bf16*>(shared_raw);
    bf16* sK = sQ + MmaQueryRows * Stride;
    bf16* sV = sK + 2 * MmaKeys * Stride;

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
    const int tiles = (int)((kv_end + MmaKeys - 1) / MmaKeys);

    auto load_tile = [&](int tile, int stage) {
        const long long kt = (long long)tile * MmaKeys;
        bf16* dk = sK + stage * MmaKeys * Stride;
        bf16* dv = sV + stage * MmaKeys * Stride;
        for (int idx = threadIdx.x; idx < MmaKeys * Chunks; idx += MmaThreads)
        {
            int r = idx / Chunks;
            int c = (idx - r * Chunks) * 8;
            bool valid = kt + r < kv_end;
            long long offset = valid ? (kt + r) * kv_stride + c : 0;
            cp_async_16(shared_address(dk + r * Stride + c), k_head + offset, valid);
            cp_async_16(shared_address(dv + r * Stride + c), v_head + offset, valid);
        }
    };

    load_tile(0, 0);
    cp_async_commit();

    uint32_t qf[KSteps][4];
    float out[OutTiles][4];
#pragma unroll
    for (int t = 0; t < OutTiles; t++)
    {
        out[t][0] = out[t][1] = out[t][2] = out[t][3] = 0.0f;
    }
    float row_max[2] = {-INFINITY, -INFINITY};
    float row_sum[2] = {0.0f, 0.0f};

    const long long warp_first = query_start + row0 + warp * 16;
    const long long warp_last = warp_first + 15;
    const long long pos_low = warp_first + group;
    const long long pos_high = pos_low + 8;

    for (int tile = 0; tile < tiles; tile++)
    {
        const int stage = tile & 1;
        if (tile + 1 < tiles)
        {
            load_tile(tile + 1, stage ^ 1);
            cp_async_commit();
            cp_async_wait<1>();
        }
        else
        {
            cp_async_wait<0>();
        }
        __syncthreads();

        if (tile == 0)
        {
#pragma unroll
            for (int ks = 0; ks < KSteps; ks++)
            {
                const bf16* p = sQ + (warp * 16 + (matrix & 1) * 8 + matrix_row) * Stride + ks * 16 + (matrix >> 1) * 8;
                ldmatrix_x4(qf[ks][0], qf[ks][1], qf[ks][2], qf[ks][3], shared_address(p));
            }
        }

        const long long kt = (long long)tile * MmaKeys;
        if (kt <= warp_last)
        {
            const bf16* tk = sK + stage * MmaKeys * Stride;
            const bf16* tv = sV + stage * MmaKeys * Stride;

            float s[ScoreTiles][4];
#pragma unroll
            for (int t = 0; t < ScoreTiles; t++)
            {
                s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.0f;
            }
#pragma unroll
            for (int ks = 0; ks < KSteps; ks++)
            {
#pragma unroll
                for (int np = 0; np < ScoreTiles / 2; np++)
                {
                    uint32_t b0, b1, b2, b3;
                    const bf16* p = tk + (np * 16 + (matrix >> 1) * 8 + matrix_row) * Stride + ks * 16 + (matrix & 1) * 8;
                    ldmatrix_x4(b0, b1, b2, b3, shared_address(p));
                    mma_bf16_16816(s[2 * np], qf[ks], b0, b1);
                    mma_bf16_16816(s[2 * np + 1], qf[ks], b2, b3);
                }
            }

            // Only tiles that reach past the warp's first row need the causal mask.
            const bool masked = kt + MmaKeys - 1 > warp_first;
            float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int t = 0; t < ScoreTiles; t++)
            {
#pragma unroll
                for (int e = 0; e < 4; e++)
                {
                    const long long key = kt + t * 8 + quad * 2 + (e & 1);
                    const long long pos = e < 2 ? pos_low : pos_high;
                    s[t][e] = (masked && key > pos) ? -INFINITY : s[t][e] * scale_log2;
                    tile_max[e >> 1] = fmaxf(tile_max[e >> 1], s[t][e]);
                }
            }

            float alpha[2];
#pragma unroll
            for (int h = 0; h < 2; h++)
            {
                float mx = tile_max[h];
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                // Key 0 is in tile 0 and visible to every row, so the new maximum is finite.
                const float m_new = fmaxf(row_max[h], mx);
                alpha[h] = exp2f(row_max[h] - m_new);
                row_max[h] = m_new;
            }

            float tile_sum[2] = {0.0f, 0.0f};
#pragma unroll
            for (int t = 0; t < ScoreTiles; t++)
            {
#pragma unroll
                for (int e = 0; e < 4; e++)
                {
                    s[t][e] = exp2f(s[t][e] - row_max[e >> 1]);
                    tile_sum[e >> 1] += s[t][e];
                }
            }
            row_sum[0] = row_sum[0] * alpha[0] + tile_sum[0];
            row_sum[1] = row_sum[1] * alpha[1] + tile_sum[1];
#pragma unroll
            for (int t = 0; t < OutTiles; t++)
            {
                out[t][0] *= alpha[0];
                out[t][1] *= alpha[0];
                out[t][2] *= alpha[1];
                out[t][3] *= alpha[1];
            }

#pragma unroll
            for (int kk = 0; kk < MmaKeys / 16; kk++)
            {
                const uint32_t pa[4] = {
                    pack_bf16x2(s[2 * kk][0], s[2 * kk][1]),
                    pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                    pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                    pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]),
                };
#pragma unroll
                for (int op = 0; op < OutTiles / 2; op++)
                {
                    uint32_t b0, b1, b2, b3;
                    const bf16* p = tv + (kk * 16 + (matrix & 1) * 8 + matrix_row) * Stride + op * 16 + (matrix >> 1) * 8;
                    ldmatrix_x4_trans(b0, b1, b2, b3, shared_address(p));
                    mma_bf16_16816(out[2 * op], pa, b0, b1);
                    mma_bf16_16816(out[2 * op + 1], pa, b2, b3);
                }
            }
        }
        // The stage read here is refilled by the next iteration's prefetch.
        __syncthreads();
    }

#pragma unroll
    for (int h = 0; h < 2; h++)
    {
        row_sum[h] += __shfl_xor_sync(0xffffffffu, row_sum[h], 1);
        row_sum[h] += __shfl_xor_sync(0xffffffffu, row_sum[h], 2);
    }

    const long long row_low = row0 + warp * 16 + group;
#pragma unroll
    for (int h = 0; h < 2; h++)
    {
        const long long row = row_low + h * 8;
        if (row < q_rows)
        {
            const float inv = 1.0f / row_sum[h];
            bf16* dst = o + row * q_stride + (long long)head * D + quad * 2;
#pragma unroll
            for (int t = 0; t < OutTiles; t++)
            {
                *reinterpret_cast<__nv_bfloat162*>(dst + t * 8) = __floats2bfloat162_rn(out[t][2 * h] * inv, out[t][2 * h + 1] * inv);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(MmaThreads) flash_attention_mma_d64(
    const bf16* q, const bf16* k, const bf16* v, bf16* o, long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
    flash_attention_mma<64>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2);
}

extern "C" __global__ void __launch_bounds__(MmaThreads) flash_attention_mma_d128(
    const bf16* q, const bf16* k, const bf16* v, bf16* o, long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
    flash_attention_mma<128>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2);
}
