// Embedding gather: out[t, :] = table[ids[t], :]. Ids are validated on the host before launch.
#include "common.cuh"

extern "C" __global__ void embedding_gather_bf16(const bf16* __restrict__ table, const int* __restrict__ ids,
                                                 bf16* __restrict__ out, long long tokens, int cols)
{
    long long n = tokens * cols;
    FOR_EACH_ELEMENT(i, n)
    {
        long long t = i / cols;
        int c = (int)(i - t * cols);
        out[i] = table[(long long)ids[t] * cols + c];
    }
}
