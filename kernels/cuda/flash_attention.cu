// Dense causal flash attention forward (first, simple version: CUDA cores, no tensor cores).
//
// Layouts (row-major, bf16): Q and O are [q_rows, hq * D], K and V are [kv_capacity, hkv * D].
// Query row r sits at absolute position query_start + r and sees keys [0, query_start + r].
// Query head h reads KV head h / (hq / hkv): K/V are never expanded.
//
// A block owns QueryBlock rows of one query head; each of its 4 warps owns 16 rows. K/V tiles of
// KeyBlock keys stream through shared memory. Per tile a lane scores one key against its warp's
// 16 rows, the warp agrees on the running row maxima (online softmax in base 2, scale folded into
// log2 e), then each lane accumulates D/32 output columns for the 16 rows in f32.
#include "common.cuh"

constexpr int QueryBlock = 64;
constexpr int KeyBlock = 32;
constexpr int FlashWarps = 4;
constexpr int RowsPerWarp = QueryBlock / FlashWarps;
constexpr int FlashThreads = FlashWarps * 32;
// Pads a K row by one bf16 pair so lane l's reads of row l fall in distinct banks.
constexpr int KeyPad = 2;

template <int D>
__device__ __forceinline__ void flash_attention_forward(
    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, bf16* __restrict__ o,
    long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
    static_assert(D % 64 == 0, "head_dim must be a multiple of 64");
    constexpr int Columns = D / 32;

    __shared__ __align__(16) bf16 sQ[QueryBlock][D];
    __shared__ __align__(16) bf16 sK[KeyBlock][D + KeyPad];
    __shared__ __align__(16) bf16 sV[KeyBlock][D];
    __shared__ float sP[FlashWarps][RowsPerWarp][KeyBlock];

    const int head = blockIdx.x;
    const int kv_head = head / (hq / hkv);
    // Longest blocks (last rows, most keys) first: evens out the causal triangle's tail.
    const long long q_block = (long long)gridDim.y - 1 - blockIdx.y;
    const long long row0 = q_block * QueryBlock;
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;

    const long long q_stride = (long long)hq * D;
    const long long kv_stride = (long long)hkv * D;

    // Q tile -> shared, 8 bf16 per 16-byte load; rows past the span are zero.
    for (int idx = threadIdx.x; idx < QueryBlock * D / 8; idx += FlashThreads)
    {
        int r = idx / (D / 8);
        int c = (idx - r * (D / 8)) * 8;
        uint4 val = make_uint4(0, 0, 0, 0);
        if (row0 + r < q_rows) val = *reinterpret_cast<const uint4*>(q + (row0 + r) * q_stride + (long long)head * D + c);
        *reinterpret_cast<uint4*>(&sQ[r][c]) = val;
    }

    float m[RowsPerWarp];
    float l[RowsPerWarp];
    float acc[RowsPerWarp][Columns];
#pragma unroll
    for (int i = 0; i < RowsPerWarp; i++)
    {
        m[i] = -INFINITY;
        l[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < Columns; c++) acc[i][c] = 0.0f;
    }

    const long long block_last_row = min(row0 + QueryBlock, q_rows) - 1;
    const long long kv_end = query_start + block_last_row + 1;
    const long long warp_first_pos = query_start + row0 + warp * RowsPerWarp;
    const long long warp_last_pos = warp_first_pos + RowsPerWarp - 1;

    for (long long kt = 0; kt < kv_end; kt += KeyBlock)
    {
        __syncthreads();
        for (int idx = threadIdx.x; idx < KeyBlock * D / 8; idx += FlashThreads)
        {
            int r = idx / (D / 8);
            int c = (idx - r * (D / 8)) * 8;
            uint4 kval = make_uint4(0, 0, 0, 0);
            uint4 vval = make_uint4(0, 0, 0, 0);
            if (kt + r < kv_end)
            {
                long long off = (kt + r) * kv_stride + (long long)kv_head * D + c;
                kval = *reinterpret_cast<const uint4*>(k + off);
                vval = *reinterpret_cast<const uint4*>(v + off);
            }
            // sK rows are padded (not 16-byte aligned): store as four 4-byte words.
            uint32_t* kdst = reinterpret_cast<uint32_t*>(&sK[r][c]);
            kdst[0] = kval.x;
            kdst[1] = kval.y;
            kdst[2] = kval.z;
            kdst[3] = kval.w;
            *reinterpret_cast<uint4*>(&sV[r][c]) = vval;
        }
        __syncthreads();

        // The whole warp's rows lie before this tile: nothing to add (warp-uniform branch).
        if (kt > warp_last_pos) continue;

        float s[RowsPerWarp];
#pragma unroll
        for (int i = 0; i < RowsPerWarp; i++) s[i] = 0.0f;
        const __nv_bfloat162* krow = reinterpret_cast<const __nv_bfloat162*>(&sK[lane][0]);
#pragma unroll 4
        for (int c2 = 0; c2 < D / 2; c2++)
        {
            float2 kk = __bfloat1622float2(krow[c2]);
#pragma unroll
            for (int i = 0; i < RowsPerWarp; i++)
            {
                float2 qq = __bfloat1622float2(reinterpret_cast<const __nv_bfloat162*>(&sQ[warp * RowsPerWarp + i][0])[c2]);
                s[i] = fmaf(qq.x, kk.x, fmaf(qq.y, kk.y, s[i]));
            }
        }

        const long long key = kt + lane;
#pragma unroll
        for (int i = 0; i < RowsPerWarp; i++)
        {
            float score = (key <= warp_first_pos + i) ? s[i] * scale_log2 : -INFINITY;
            float m_new = fmaxf(m[i], warp_max(score));
            // Key 0 is in the first tile and visible to every row, so m_new is finite here.
            float alpha = exp2f(m[i] - m_new);
            float p = exp2f(score - m_new);
            m[i] = m_new;
            l[i] = l[i] * alpha + p;
#pragma unroll
            for (int c = 0; c < Columns; c++) acc[i][c] *= alpha;
            sP[warp][i][lane] = p;
        }
        __syncwarp();

#pragma unroll 2
        for (int j = 0; j < KeyBlock; j++)
        {
            float vv[Columns];
#pragma unroll
            for (int c = 0; c < Columns; c += 2)
            {
                float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&sV[j][lane * Columns + c]));
                vv[c] = f.x;
                vv[c + 1] = f.y;
            }
#pragma unroll
            for (int i = 0; i < RowsPerWarp; i++)
            {
                float p = sP[warp][i][j];
#pragma unroll
                for (int c = 0; c < Columns; c++) acc[i][c] = fmaf(p, vv[c], acc[i][c]);
            }
        }
        __syncwarp();
    }

#pragma unroll
    for (int i = 0; i < RowsPerWarp; i++)
    {
        long long row = row0 + warp * RowsPerWarp + i;
        float total = warp_sum(l[i]);
        if (row < q_rows)
        {
            float inv = 1.0f / total;
            bf16* dst = o + row * q_stride + (long long)head * D + lane * Columns;
#pragma unroll
            for (int c = 0; c < Columns; c += 2)
            {
                *reinterpret_cast<__nv_bfloat162*>(dst + c) = __floats2bfloat162_rn(acc[i][c] * inv, acc[i][c + 1] * inv);
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(FlashThreads) flash_attention_forward_d64(
    const bf16* q, const bf16* k, const bf16* v, bf16* o, long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
    flash_attention_forward<64>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2);
}

extern "C" __global__ void __launch_bounds__(FlashThreads) flash_attention_forward_d128(
    const bf16* q, const bf16* k, const bf16* v, bf16* o, long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
    flash_attention_forward<128>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2);
}
