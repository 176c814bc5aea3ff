// Top-k of one row of f32 logits (the last position's LM-head output), on one block.
//
// Order: a logit beats another when it is larger, or equal with a lower token id, so ties keep the
// lower id and the order is total (NaN never beats anything and is never selected). Pass j picks
// the best element that the (j-1)-th pick beats: no set of chosen ids is kept, and k passes over a
// 600 KB row (152064 logits) stay in L2. After the passes the block sums exp(x - max) for the
// log-sum-exp, so the host gets probabilities without the whole row.
#include "common.cuh"

constexpr int LogitsTopKThreads = 1024;
constexpr int LogitsTopKWarps = LogitsTopKThreads / 32;

__device__ __forceinline__ bool logit_beats(float a, int a_id, float b, int b_id)
{
    return a > b || (a == b && a_id < b_id);
}

// Keeps in (v, id) the better of itself and (ov, oid); id -1 means "none".
__device__ __forceinline__ void keep_better(float& v, int& id, float ov, int oid)
{
    if (oid >= 0 && (id < 0 || logit_beats(ov, oid, v, id)))
    {
        v = ov;
        id = oid;
    }
}

extern "C" __global__ void __launch_bounds__(LogitsTopKThreads) logits_top_k(
    const float* __restrict__ logits, int vocab, int k, int* __restrict__ ids, float* __restrict__ values, float* __restrict__ log_sum_exp)
{
    __shared__ float warp_value[LogitsTopKWarps];
    __shared__ int warp_id[LogitsTopKWarps];
    __shared__ float pick_value;
    __shared__ int pick_id;
    __shared__ float warp_sum_exp[LogitsTopKWarps];

    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    // The previous pick; (+inf, -1) beats every finite logit and every +inf.
    float previous = INFINITY;
    int previous_id = -1;
    bool exhausted = false;
    float first_value = 0.0f;
    int first_id = -1;

    for (int j = 0; j < k; j++)
    {
        float best = 0.0f;
        int best_id = -1;
        if (!exhausted)
        {
            for (int i = threadIdx.x; i < vocab; i += LogitsTopKThreads)
            {
                const float x = logits[i];
                if (logit_beats(previous, previous_id, x, i)) keep_better(best, best_id, x, i);
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1)
        {
            const float ov = __shfl_xor_sync(0xffffffffu, best, o);
            const int oid = __shfl_xor_sync(0xffffffffu, best_id, o);
            keep_better(best, best_id, ov, oid);
        }
        if (lane == 0)
        {
            warp_value[warp] = best;
            warp_id[warp] = best_id;
        }
        __syncthreads();
        if (warp == 0)
        {
            best = warp_value[lane];
            best_id = warp_id[lane];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1)
            {
                const float ov = __shfl_xor_sync(0xffffffffu, best, o);
                const int oid = __shfl_xor_sync(0xffffffffu, best_id, o);
                keep_better(best, best_id, ov, oid);
            }
            if (lane == 0)
            {
                pick_value = best;
                pick_id = best_id;
                ids[j] = best_id;
                values[j] = best_id >= 0 ? best : __int_as_float(0x7fc00000);
            }
        }
        __syncthreads();
        previous = pick_value;
        previous_id = pick_id;
        exhausted = previous_id < 0;
        if (j == 0)
        {
            first_value = previous;
            first_id = previous_id;
        }
        // Every thread has read the pick before the next pass's warp 0 overwrites it.
        __syncthreads();
    }

    // Log-sum-exp over the non-NaN logits, relative to the largest (the first pick).
    const float max_value = first_value;
    const bool finite = first_id >= 0 && isfinite(max_value);
    float sum = 0.0f;
    if (finite)
    {
        for (int i = threadIdx.x; i < vocab; i += LogitsTopKThreads)
        {
            const float x = logits[i];
            if (!isnan(x)) sum += exp2f((x - max_value) * 1.4426950408889634f);
        }
    }
    sum = warp_sum(sum);
    if (lane == 0) warp_sum_exp[warp] = sum;
    __syncthreads();
    if (threadIdx.x == 0)
    {
        float total = 0.0f;
        for (int w = 0; w < LogitsTopKWarps; w++) total += warp_sum_exp[w];
        *log_sum_exp = finite ? max_value + logf(total) : (first_id >= 0 ? max_value : __int_as_float(0x7fc00000));
    }
}
