// Shared helpers for the MInference kernels. Every kernel is extern "C" so the host binds it by
// name with cuModuleGetFunction; sizes and offsets are 64-bit because a 1M-token KV cache of
// 8 heads x 128 dims passes 2^31 bytes.
#pragma once
#include <cuda_bf16.h>
#include <stdint.h>
#include <math.h>

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Grid-stride loop over a 64-bit element count.
#define FOR_EACH_ELEMENT(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)
