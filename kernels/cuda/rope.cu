// Rotary embedding in place, HF "rotate_half" layout: element i pairs with i + d/2 in each head.
// The angle is formed in double and reduced before sincos, so positions near 2M keep full precision.
#include "common.cuh"

extern "C" __global__ void rope_bf16(bf16* __restrict__ x, long long rows, int cols, int head_dim,
                                     long long first_position, const float* __restrict__ inv_freq)
{
    int half = head_dim / 2;
    int pairs_per_row = cols / 2;
    long long n = rows * pairs_per_row;
    FOR_EACH_ELEMENT(p, n)
    {
        long long r = p / pairs_per_row;
        int k = (int)(p - r * pairs_per_row);
        int head = k / half;
        int i = k - head * half;
        double angle = (double)(first_position + r) * (double)inv_freq[i];
        angle = fmod(angle, 6.283185307179586);
        float s, c;
        sincosf((float)angle, &s, &c);
        bf16* h = x + r * cols + (long long)head * head_dim;
        float a = __bfloat162float(h[i]);
        float b = __bfloat162float(h[i + half]);
        h[i] = __float2bfloat16_rn(a * c - b * s);
        h[i + half] = __float2bfloat16_rn(b * c + a * s);
    }
}
