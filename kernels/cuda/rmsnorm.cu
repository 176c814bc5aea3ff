// RMSNorm: one block per row, sum of squares in f32, out = x * rsqrt(mean(x^2) + eps) * w.
#include "common.cuh"

constexpr int RmsNormThreads = 256;

extern "C" __global__ void __launch_bounds__(RmsNormThreads) rmsnorm_bf16(
    const bf16* __restrict__ in, const bf16* __restrict__ weight, bf16* __restrict__ out,
    long long rows, int cols, float eps)
{
    __shared__ float partial[RmsNormThreads / 32];
    for (long long row = blockIdx.x; row < rows; row += gridDim.x)
    {
        const bf16* x = in + row * cols;
        float sum = 0.0f;
        for (int c = threadIdx.x; c < cols; c += RmsNormThreads)
        {
            float v = __bfloat162float(x[c]);
            sum += v * v;
        }
        sum = warp_sum(sum);
        if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sum;
        __syncthreads();
        float total = 0.0f;
#pragma unroll
        for (int w = 0; w < RmsNormThreads / 32; w++) total += partial[w];
        float inv = rsqrtf(total / (float)cols + eps);
        bf16* y = out + row * cols;
        for (int c = threadIdx.x; c < cols; c += RmsNormThreads)
        {
            y[c] = __float2bfloat16_rn(__bfloat162float(x[c]) * inv * __bfloat162float(weight[c]));
        }
        // partial[] is rewritten by the next row.
        __syncthreads();
    }
}
