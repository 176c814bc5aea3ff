// Element-wise kernels: dtype conversion, residual add, SwiGLU, bias add. Memory-bound and simple;
// each thread walks a grid-stride loop so one launch size serves any length.
#include "common.cuh"

extern "C" __global__ void f32_to_bf16(const float* __restrict__ src, bf16* __restrict__ dst, long long n)
{
    FOR_EACH_ELEMENT(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

extern "C" __global__ void bf16_to_f32(const bf16* __restrict__ src, float* __restrict__ dst, long long n)
{
    FOR_EACH_ELEMENT(i, n) dst[i] = __bfloat162float(src[i]);
}

extern "C" __global__ void add_inplace_bf16(bf16* __restrict__ target, const bf16* __restrict__ addend, long long n)
{
    FOR_EACH_ELEMENT(i, n) target[i] = __float2bfloat16_rn(__bfloat162float(target[i]) + __bfloat162float(addend[i]));
}

extern "C" __global__ void swiglu_bf16(const bf16* __restrict__ gate, const bf16* __restrict__ up, bf16* __restrict__ out, long long n)
{
    FOR_EACH_ELEMENT(i, n)
    {
        float g = __bfloat162float(gate[i]);
        float silu = g / (1.0f + expf(-g));
        out[i] = __float2bfloat16_rn(silu * __bfloat162float(up[i]));
    }
}

// out[r, c] += bias[c]: cuBLAS writes the product, this adds the (Qwen2 q/k/v) bias.
extern "C" __global__ void add_bias_rows_bf16(bf16* __restrict__ out, const bf16* __restrict__ bias, long long rows, int cols)
{
    long long n = rows * cols;
    FOR_EACH_ELEMENT(i, n)
    {
        out[i] = __float2bfloat16_rn(__bfloat162float(out[i]) + __bfloat162float(bias[i % cols]));
    }
}

// Deterministic pseudo-random bf16 fill in [-1, 1): lets tests build multi-GiB inputs on the GPU
// without shipping them over PCIe. SplitMix64 of (seed, index).
extern "C" __global__ void fill_random_bf16(bf16* __restrict__ dst, long long n, unsigned long long seed)
{
    FOR_EACH_ELEMENT(i, n)
    {
        unsigned long long z = seed + 0x9E3779B97F4A7C15ull * (unsigned long long)(i + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        float u = (float)(z >> 40) * (1.0f / 16777216.0f);
        dst[i] = __float2bfloat16_rn(2.0f * u - 1.0f);
    }
}
