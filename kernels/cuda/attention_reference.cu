// A deliberately plain f32 attention for single query rows: the GPU-side oracle for long-length
// tests, where the CPU can't hold the cache in f32. Shares no code with the flash kernel.
// One block per (sampled row, query head); two passes over the keys (max, then exp-sum and P·V).
#include "common.cuh"

constexpr int ReferenceThreads = 256;

template <int D>
__device__ __forceinline__ void attention_reference(
    const bf16* q, const bf16* k, const bf16* v, float* out, const long long* rows,
    long long query_start, int hq, int hkv, float scale)
{
    __shared__ float sq[D];
    __shared__ float red[ReferenceThreads / 32][D];
    __shared__ float scalars[ReferenceThreads / 32];

    const long long row = rows[blockIdx.x];
    const int head = blockIdx.y;
    const int kv_head = head / (hq / hkv);
    const long long pos = query_start + row;
    const long long kv_stride = (long long)hkv * D;
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;

    for (int c = threadIdx.x; c < D; c += ReferenceThreads) sq[c] = __bfloat162float(q[row * hq * D + (long long)head * D + c]);
    __syncthreads();

    float mx = -INFINITY;
    for (long long j = threadIdx.x; j <= pos; j += ReferenceThreads)
    {
        const bf16* kr = k + j * kv_stride + (long long)kv_head * D;
        float s = 0.0f;
        
#pragma unroll
        for (int c = 0; c < D; c++) s += sq[c] * __bfloat162float(kr[c]);
        mx = fmaxf(mx, s * scale);
    }
    mx = warp_max(mx);
    if (lane == 0) scalars[warp] = mx;
    __syncthreads();
    mx = -INFINITY;
    for (int w = 0; w < ReferenceThreads / 32; w++) mx = fmaxf(mx, scalars[w]);
    __syncthreads();

    float sum = 0.0f;
    float acc[D];
    
#pragma unroll
        for (int c = 0; c < D; c++) acc[c] = 0.0f;
    for (long long j = threadIdx.x; j <= pos; j += ReferenceThreads)
    {
        const bf16* kr = k + j * kv_stride + (long long)kv_head * D;
        const bf16* vr = v + j * kv_stride + (long long)kv_head * D;
        float s = 0.0f;
        
#pragma unroll
        for (int c = 0; c < D; c++) s += sq[c] * __bfloat162float(kr[c]);
        float e = expf(s * scale - mx);
        sum += e;
        
#pragma unroll
        for (int c = 0; c < D; c++) acc[c] += e * __bfloat162float(vr[c]);
    }
    sum = warp_sum(sum);
    if (lane == 0) scalars[warp] = sum;
    
#pragma unroll
        for (int c = 0; c < D; c++)
    {
        float a = warp_sum(acc[c]);
        if (lane == 0) red[warp][c] = a;
    }
    __syncthreads();
    float total = 0.0f;
    for (int w = 0; w < ReferenceThreads / 32; w++) total += scalars[w];
    for (int c = threadIdx.x; c < D; c += ReferenceThreads)
    {
        float a = 0.0f;
        for (int w = 0; w < ReferenceThreads / 32; w++) a += red[w][c];
        out[(long long)blockIdx.x * hq * D + (long long)head * D + c] = a / total;
    }
}

extern "C" __global__ void __launch_bounds__(ReferenceThreads) attention_reference_d64(
    const bf16* q, const bf16* k, const bf16* v, float* out, const long long* rows, long long query_start, int hq, int hkv, float scale)
{
    attention_reference<64>(q, k, v, out, rows, query_start, hq, hkv, scale);
}

extern "C" __global__ void __launch_bounds__(ReferenceThreads) attention_reference_d128(
    const bf16* q, const bf16* k, const bf16* v, float* out, const long long* rows, long long query_start, int hq, int hkv, float scale)
{
    attention_reference<128>(q, k, v, out, rows, query_start, hq, hkv, scale);
}
