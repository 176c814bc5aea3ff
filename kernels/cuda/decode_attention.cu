// Decode attention: one query row (position query_start) over a long KV cache, split over the
// cache. Pass 1: block (head, split) walks its keys, one warp per key at a time (4 keys loaded
// ahead to hide latency), with an online softmax; the 4 warps merge in shared memory and write
// (max, sum, unnormalised output) in f32. Pass 2: one block per head merges the splits.
// Same layouts as flash_attention.cu; the maxima are in log2 units (scores scaled by scale·log2 e).
#include "common.cuh"

constexpr int DecodeWarps = 4;
constexpr int DecodeThreads = DecodeWarps * 32;
constexpr int DecodeUnroll = 4;

template <int D>
__device__ __forceinline__ void load_row(const bf16* p, float (&x)[D / 32])
{
    constexpr int C = D / 32;
    if constexpr (C == 4)
    {
        uint2 raw = *reinterpret_cast<const uint2*>(p);
        float2 a = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&raw.x));
        float2 b = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&raw.y));
        x[0] = a.x;
        x[1] = a.y;
        x[2] = b.x;
        x[3] = b.y;
    }
    else
    {
        float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
        x[0] = a.x;
        x[1] = a.y;
    }
}

template <int D>
__device__ __forceinline__ void decode_attention_split(
    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v,
    float* __restrict__ partial_out, float* __restrict__ partial_stats,
    long long query_start, int hq, int hkv, float scale_log2, long long keys_per_split)
{
    constexpr int C = D / 32;
    __shared__ float s_out[DecodeWarps][D];
    __shared__ float s_max[DecodeWarps];
    __shared__ float s_sum[DecodeWarps];

    const int head = blockIdx.x;
    const int split = blockIdx.y;
    const int kv_head = head / (hq / hkv);
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const long long key_length = query_start + 1;
    const long long first = (long long)split * keys_per_split;
    const long long last = min(first + keys_per_split, key_length);
    const long long kv_stride = (long long)hkv * D;
    const bf16* k_head = k + (long long)kv_head * D + lane * C;
    const bf16* v_head = v + (long long)kv_head * D + lane * C;

    float qv[C];
    load_row<D>(q + (long long)head * D + lane * C, qv);
#pragma unroll
    for (int c = 0; c < C; c++) qv[c] *= scale_log2;

    float m = -INFINITY;
    float l = 0.0f;
    float acc[C];
#pragma unroll
    for (int c = 0; c < C; c++) acc[c] = 0.0f;

    for (long long base = first + warp; base < last; base += DecodeWarps * DecodeUnroll)
    {
        float kx[DecodeUnroll][C];
        float vx[DecodeUnroll][C];
#pragma unroll
        for (int u = 0; u < DecodeUnroll; u++)
        {
            const long long key = base + (long long)u * DecodeWarps;
            if (key < last)
            {
                load_row<D>(k_head + key * kv_stride, kx[u]);
                load_row<D>(v_head + key * kv_stride, vx[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < DecodeUnroll; u++)
        {
            const long long key = base + (long long)u * DecodeWarps;
            if (key < last)
            {
                float s = 0.0f;
#pragma unroll
                for (int c = 0; c < C; c++) s = fmaf(qv[c], kx[u][c], s);
                s = warp_sum(s);
                const float m_new = fmaxf(m, s);
                const float alpha = exp2f(m - m_new);
                const float p = exp2f(s - m_new);
                l = l * alpha + p;
#pragma unroll
                for (int c = 0; c < C; c++) acc[c] = fmaf(p, vx[u][c], acc[c] * alpha);
                m = m_new;
            }
        }
    }

#pragma unroll
    for (int c = 0; c < C; c++) s_out[warp][lane * C + c] = acc[c];
    if (lane == 0)
    {
        s_max[warp] = m;
        s_sum[warp] = l;
    }
    __syncthreads();

    // Every split holds at least one key, so at least one warp's maximum is finite.
    float block_max = -INFINITY;
#pragma unroll
    for (int w = 0; w < DecodeWarps; w++) block_max = fmaxf(block_max, s_max[w]);
    float* out = partial_out + ((long long)split * hq + head) * D;
    for (int d = threadIdx.x; d < D; d += DecodeThreads)
    {
        float a = 0.0f;
#pragma unroll
        for (int w = 0; w < DecodeWarps; w++) a += s_out[w][d] * exp2f(s_max[w] - block_max);
        out[d] = a;
    }
    if (threadIdx.x == 0)
    {
        float total = 0.0f;
#pragma unroll
        for (int w = 0; w < DecodeWarps; w++) total += s_sum[w] * exp2f(s_max[w] - block_max);
        partial_stats[((long long)split * hq + head) * 2] = block_max;
        partial_stats[((long long)split * hq + head) * 2 + 1] = total;
    }
}

extern "C" __global__ void __launch_bounds__(DecodeThreads) decode_attention_split_d64(
    const bf16* q, const bf16* k, const bf16* v, float* partial_out, float* partial_stats,
    long long query_start, int hq, int hkv, float scale_log2, long long keys_per_split)
{
    decode_attention_split<64>(q, k, v, partial_out, partial_stats, query_start, hq, hkv, scale_log2, keys_per_split);
}

extern "C" __global__ void __launch_bounds__(DecodeThreads) decode_attention_split_d128(
    const bf16* q, const bf16* k, const bf16* v, float* partial_out, float* partial_stats,
    long long query_start, int hq, int hkv, float scale_log2, long long keys_per_split)
{
    decode_attention_split<128>(q, k, v, partial_out, partial_stats, query_start, hq, hkv, scale_log2, keys_per_split);
}

// o[head, d] = sum_s 2^(max_s - M) out_s[d] / sum_s 2^(max_s - M) sum_s, M the largest max_s.
extern "C" __global__ void decode_attention_merge(
    const float* __restrict__ partial_out, const float* __restrict__ partial_stats, bf16* __restrict__ o,
    int splits, int hq, int head_dim)
{
    const int head = blockIdx.x;
    float global_max = -INFINITY;
    for (int s = 0; s < splits; s++) global_max = fmaxf(global_max, partial_stats[((long long)s * hq + head) * 2]);
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x)
    {
        float a = 0.0f;
        float total = 0.0f;
        for (int s = 0; s < splits; s++)
        {
            const long long at = (long long)s * hq + head;
            const float w = exp2f(partial_stats[at * 2] - global_max);
            a += partial_out[at * head_dim + d] * w;
            total += partial_stats[at * 2 + 1] * w;
        }
        o[(long long)head * head_dim + d] = __float2bfloat16_rn(a / total);
    }
}
