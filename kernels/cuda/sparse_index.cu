// Sparse index building on the GPU (DESIGN section 4): Vertical-Slash estimation, top-k selection,
// conversion of a selection into the per-64-row-block layout sparse_attention_mma.cu reads, and the
// Block-Sparse pooling and block scores. Every kernel serves all listed query heads of a layer in one
// launch; `heads` maps a launch slot to the query head (slot order = the order of the index arrays).
//
// Vertical-Slash estimation never holds the last queries' 64 x N scores: pass 1 runs each key chunk's
// online softmax statistics (row max, row sum of exp) per row, a merge folds the chunks, and pass 2
// recomputes the scores tile by tile into probabilities, column sums (stored: each column belongs to
// one tile) and diagonal sums (atomically added: a 64-key tile touches 127 diagonals, its neighbours
// share them). The scores run on tensor cores (bf16 in, f32 out) like the attention kernels.
#include "mma_primitives.cuh"

constexpr int EstimateWarps = 4;
constexpr int EstimateThreads = EstimateWarps * 32;
constexpr int EstimateRows = 64;  // the last queries of the span (LastQueries)
constexpr int EstimateKeyTile = 64;
constexpr int EstimatePad = 8;

// Loads the span's last `last_rows` query rows of `head` into shared memory rows [0, 64), zero-filling
// the rest; then, per tile of 64 keys of the chunk, calls visit(s, key0) with the warp's 16 x 64 raw
// dot products in the mma accumulator layout (row = warp * 16 + group + 8 * (e >> 1), key = key0 +
// t * 8 + quad * 2 + (e & 1)).
template <int D, typename Visit>
__device__ __forceinline__ void estimate_tiles(
    const bf16* __restrict__ q, const bf16* __restrict__ k, int span_rows, int last_rows, int head, int kv_head, int hq, int hkv,
    int chunk_start, int chunk_end, Visit visit)
{
    constexpr int Stride = D + EstimatePad;
    constexpr int KSteps = D / 16;
    constexpr int ScoreTiles = EstimateKeyTile / 8;
    constexpr int Chunks = D / 8;
    extern __shared__ __align__(16) unsigned char shared_raw[];
    bf16* sQ = reinterpret_cast<bf16*>(shared_raw);
    bf16* sK = sQ + EstimateRows * Stride;

    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int matrix = lane >> 3;
    const int matrix_row = lane & 7;
    const long long q_stride = (long long)hq * D;
    const long long kv_stride = (long long)hkv * D;
    const int first_row = span_rows - last_rows;
    for (int idx = threadIdx.x; idx < EstimateRows * Chunks; idx += EstimateThreads)
    {
        int r = idx / Chunks;
        int c = (idx - r * Chunks) * 8;
        bool valid = r < last_rows;
        const bf16* src = valid ? q + (long long)(first_row + r) * q_stride + (long long)head * D + c : q;
        cp_async_16(shared_address(sQ + r * Stride + c), src, valid);
    }
    cp_async_commit();

    const bf16* k_head = k + (long long)kv_head * D;
    const bf16* warp_q = sQ + warp * 16 * Stride;
    for (int key0 = chunk_start; key0 < chunk_end; key0 += EstimateKeyTile)
    {
        __syncthreads();  // the previous tile's readers are done with sK
        const int count = min(EstimateKeyTile, chunk_end - key0);
        for (int idx = threadIdx.x; idx < EstimateKeyTile * Chunks; idx += EstimateThreads)
        {
            int r = idx / Chunks;
            int c = (idx - r * Chunks) * 8;
            bool valid = r < count;
            const bf16* src = valid ? k_head + (long long)(key0 + r) * kv_stride + c : k_head;
            cp_async_16(shared_address(sK + r * Stride + c), src, valid);
        }
        cp_async_commit();
        cp_async_wait<0>();
        __syncthreads();

        float s[ScoreTiles][4];
#pragma unroll
        for (int t = 0; t < ScoreTiles; t++) s[t][0] = s[t][1] = s[t][2] = s[t][3] = 0.0f;
#pragma unroll
        for (int ks = 0; ks < KSteps; ks++)
        {
            uint32_t qf[4];
            const bf16* pq = warp_q + ((matrix & 1) * 8 + matrix_row) * Stride + ks * 16 + (matrix >> 1) * 8;
            ldmatrix_x4(qf[0], qf[1], qf[2], qf[3], shared_address(pq));
#pragma unroll
            for (int np = 0; np < ScoreTiles / 2; np++)
            {
                uint32_t b0, b1, b2, b3;
                const bf16* p = sK + (np * 16 + (matrix >> 1) * 8 + matrix_row) * Stride + ks * 16 + (matrix & 1) * 8;
                ldmatrix_x4(b0, b1, b2, b3, shared_address(p));
                mma_bf16_16816(s[2 * np], qf, b0, b1);
                mma_bf16_16816(s[2 * np + 1], qf, b2, b3);
            }
        }
        visit(s, key0);
    }
}

// Pass 1: per (slot, key chunk) the online max and sum of 2^(score * scale_log2 - max) of each of the
// 64 rows over the chunk's visible keys (key <= the row's position); rows past last_rows, or seeing
// no key of the chunk, give (-inf, 0).
template <int D>
__device__ __forceinline__ void vs_estimate_stats(
    const bf16* q, const bf16* k, int span_rows, int span_start, int hq, int hkv, float scale_log2, const int* heads,
    int chunk_keys, float2* partial)
{
    const int slot = blockIdx.x;
    const int head = heads[slot];
    const int kv_head = head / (hq / hkv);
    const int key_length = span_start + span_rows;
    const int last_rows = min(EstimateRows, span_rows);
    const int chunk_start = blockIdx.y * chunk_keys;
    const int chunk_end = min(chunk_start + chunk_keys, key_length);
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int group = lane >> 2;
    const int quad = lane & 3;
    // Absolute position of local row r: key_length - last_rows + r (rows >= last_rows are padding).
    int position[2];
    position[0] = warp * 16 + group < last_rows ? key_length - last_rows + warp * 16 + group : -1;
    position[1] = warp * 16 + group + 8 < last_rows ? key_length - last_rows + warp * 16 + group + 8 : -1;
    float row_max[2] = {-INFINITY, -INFINITY};
    float row_sum[2] = {0.0f, 0.0f};

    estimate_tiles<D>(q, k, span_rows, last_rows, head, kv_head, hq, hkv, chunk_start, chunk_end, [&](float(&s)[EstimateKeyTile / 8][4], int key0) {
#pragma unroll
        for (int h = 0; h < 2; h++)
        {
            float mx = -INFINITY;
#pragma unroll
            for (int t = 0; t < EstimateKeyTile / 8; t++)
            {
#pragma unroll
                for (int e = 0; e < 2; e++)
                {
                    const int key = key0 + t * 8 + quad * 2 + e;
                    float x = key <= position[h] ? s[t][2 * h + e] * scale_log2 : -INFINITY;
                    s[t][2 * h + e] = x;
                    mx = fmaxf(mx, x);
                }
            }
            if (mx == -INFINITY) continue;
            const float m_new = fmaxf(row_max[h], mx);
            float sum = row_sum[h] * exp2f(row_max[h] - m_new);
#pragma unroll
            for (int t = 0; t < EstimateKeyTile / 8; t++) sum += exp2f(s[t][2 * h] - m_new) + exp2f(s[t][2 * h + 1] - m_new);
            row_max[h] = m_new;
            row_sum[h] = sum;
        }
    });

#pragma unroll
    for (int h = 0; h < 2; h++)
    {
        float m = row_max[h];
        float l = row_sum[h];
#pragma unroll
        for (int o = 1; o <= 2; o <<= 1)
        {
            const float m_other = __shfl_xor_sync(0xffffffffu, m, o);
            const float l_other = __shfl_xor_sync(0xffffffffu, l, o);
            const float m_new = fmaxf(m, m_other);
            l = (m == -INFINITY ? 0.0f : l * exp2f(m - m_new)) + (m_other == -INFINITY ? 0.0f : l_other * exp2f(m_other - m_new));
            m = m_new;
        }
        if (quad == 0)
        {
            const int row = warp * 16 + group + 8 * h;
            partial[((long long)slot * gridDim.y + blockIdx.y) * EstimateRows + row] = make_float2(m, l);
        }
    }
}

// Folds the chunks' statistics: stats[slot][row] = (max, 1 / sum), in the base-2 scaled domain.
extern "C" __global__ void vs_estimate_merge(const float2* partial, int chunks, float2* stats)
{
    const int slot = blockIdx.x;
    const int row = threadIdx.x;
    float m = -INFINITY;
    for (int c = 0; c < chunks; c++) m = fmaxf(m, partial[((long long)slot * chunks + c) * EstimateRows + row].x);
    float l = 0.0f;
    if (m != -INFINITY)
    {
        for (int c = 0; c < chunks; c++)
        {
            const float2 p = partial[((long long)slot * chunks + c) * EstimateRows + row];
            if (p.x != -INFINITY) l += p.y * exp2f(p.x - m);
        }
    }
    stats[(long long)slot * EstimateRows + row] = make_float2(m, l > 0.0f ? 1.0f / l : 0.0f);
}

// Pass 2: probabilities tile by tile; column sums stored to column_scores[slot][key], diagonal sums
// added to slash_scores[slot][offset] (zeroed beforehand), offset = position - key.
template <int D>
__device__ __forceinline__ void vs_estimate_scores(
    const bf16* q, const bf16* k, int span_rows, int span_start, int hq, int hkv, float scale_log2, const int* heads,
    int chunk_keys, const float2* stats, long long score_stride, float* column_scores, float* slash_scores)
{
    constexpr int Stride = D + EstimatePad;
    constexpr int ProbStride = EstimateKeyTile + 1;
    extern __shared__ __align__(16) unsigned char shared_raw[];
    float* sP = reinterpret_cast<float*>(shared_raw + (EstimateRows + EstimateKeyTile) * Stride * sizeof(bf16));

    const int slot = blockIdx.x;
    const int head = heads[slot];
    const int kv_head = head / (hq / hkv);
    const int key_length = span_start + span_rows;
    const int last_rows = min(EstimateRows, span_rows);
    const int chunk_start = blockIdx.y * chunk_keys;
    const int chunk_end = min(chunk_start + chunk_keys, key_length);
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int group = lane >> 2;
    const int quad = lane & 3;
    const int first_position = key_length - last_rows;  // position of local row 0
    int position[2];
    float row_max[2];
    float row_inv[2];
#pragma unroll
    for (int h = 0; h < 2; h++)
    {
        const int row = warp * 16 + group + 8 * h;
        position[h] = row < last_rows ? first_position + row : -1;
        const float2 st = stats[(long long)slot * EstimateRows + row];
        row_max[h] = st.x;
        row_inv[h] = st.y;
    }
    float* columns_out = column_scores + (long long)slot * score_stride;
    float* slashes_out = slash_scores + (long long)slot * score_stride;

    estimate_tiles<D>(q, k, span_rows, last_rows, head, kv_head, hq, hkv, chunk_start, chunk_end, [&](float(&s)[EstimateKeyTile / 8][4], int key0) {
#pragma unroll
        for (int t = 0; t < EstimateKeyTile / 8; t++)
        {
#pragma unroll
            for (int e = 0; e < 4; e++)
            {
                const int h = e >> 1;
                const int key = key0 + t * 8 + quad * 2 + (e & 1);
                const float p = key <= position[h] ? exp2f(s[t][e] * scale_log2 - row_max[h]) * row_inv[h] : 0.0f;
                sP[(warp * 16 + group + 8 * h) * ProbStride + t * 8 + quad * 2 + (e & 1)] = p;
            }
        }
        __syncthreads();
        const int count = min(EstimateKeyTile, chunk_end - key0);
        if (threadIdx.x < count)
        {
            float sum = 0.0f;
            for (int r = 0; r < EstimateRows; r++) sum += sP[r * ProbStride + threadIdx.x];
            columns_out[key0 + threadIdx.x] = sum;
        }
        // Diagonal i = r - c + 63 holds offset first_position - key0 + i - 63.
        if (threadIdx.x < 2 * EstimateKeyTile - 1)
        {
            const int i = threadIdx.x;
            const int offset = first_position - key0 + i - (EstimateKeyTile - 1);
            if (offset >= 0 && offset < key_length)
            {
                float sum = 0.0f;
                const int r_lo = max(0, i - (EstimateKeyTile - 1));
                const int r_hi = min(EstimateRows - 1, i);
                for (int r = r_lo; r <= r_hi; r++) sum += sP[r * ProbStride + r - i + (EstimateKeyTile - 1)];
                if (sum != 0.0f) atomicAdd(slashes_out + offset, sum);
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------------
// Top-k: the k best of n scores, higher first, equal scores keeping the lower index, NaN lowest;
// indices [forced_lo, forced_hi) count as +infinity. Written ascending. One block per selection: a
// 4-pass radix select on the order-preserving integer image of the f32 bits finds the k-th key, then
// an ordered compaction writes every index above it and the lowest-indexed ones equal to it.

constexpr int TopKThreads = 1024;
constexpr int TopKWarps = TopKThreads / 32;
constexpr int BlockTopKThreads = 256;

__device__ __forceinline__ unsigned order_key(float f)
{
    const unsigned bits = __float_as_uint(f);
    if (f != f) return 0u;
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

__device__ __forceinline__ unsigned score_key(const float* scores, int i, int forced_lo, int forced_hi)
{
    return (i >= forced_lo && i < forced_hi) ? 0xFF800000u : order_key(scores[i]);
}

// Exclusive block scan of one int per thread; returns the thread's prefix, *total gets the sum.
__device__ __forceinline__ int block_exclusive_scan(int value, int* scratch, int* total)
{
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
    int inclusive = value;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1)
    {
        const int n = __shfl_up_sync(0xffffffffu, inclusive, o);
        if (lane >= o) inclusive += n;
    }
    __syncthreads();
    if (lane == 31) scratch[warp] = inclusive;
    __syncthreads();
    if (warp == 0)
    {
        int w = lane < warps ? scratch[lane] : 0;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1)
        {
            const int n = __shfl_up_sync(0xffffffffu, w, o);
            if (lane >= o) w += n;
        }
        if (lane < warps) scratch[lane] = w;  // inclusive warp totals
    }
    __syncthreads();
    const int warp_base = warp > 0 ? scratch[warp - 1] : 0;
    *total = scratch[warps - 1];
    return warp_base + inclusive - value;
}

// Shared memory a block of `warps` warps needs: per-warp histograms, the merged bins, scan scratch.
__host__ __device__ constexpr int top_k_shared_ints(int warps) { return warps * 256 + 256 + 40; }

// Needs top_k_shared_ints(blockDim.x / 32) ints of shared memory (blockDim.x <= 1024).
__device__ void top_k_block(const float* scores, int n, int k, int forced_lo, int forced_hi, int* out, int* shared)
{
    const int warps = blockDim.x >> 5;
    int* histograms = shared;          // [warps][256]
    int* bins = shared + warps * 256;  // [256]
    int* scan = bins + 256;            // [32] + 8 spare
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    if (k <= 0) return;
    if (k >= n)
    {
        for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = i;
        return;
    }

    unsigned prefix = 0, mask = 0;
    int remaining = k;
    for (int shift = 24; shift >= 0; shift -= 8)
    {
        for (int i = threadIdx.x; i < warps * 256; i += blockDim.x) histograms[i] = 0;
        __syncthreads();
        for (int i = threadIdx.x; i < n; i += blockDim.x)
        {
            const unsigned key = score_key(scores, i, forced_lo, forced_hi);
            if ((key & mask) == prefix) atomicAdd(&histograms[warp * 256 + ((key >> shift) & 255u)], 1);
        }
        __syncthreads();
        for (int b = threadIdx.x; b < 256; b += blockDim.x)
        {
            int total = 0;
            for (int w = 0; w < warps; w++) total += histograms[w * 256 + b];
            bins[b] = total;
        }
        __syncthreads();
        // The bin holding the remaining-th largest key: warp 0, lane l owning bins [8 (31 - l), +8) so
        // that an inclusive prefix over lanes counts keys from the top bin down (one thread walking all
        // 256 bins serially cost ~8K cycles a pass, most of a small selection's time).
        if (warp == 0)
        {
            const int high = 255 - 8 * lane;  // the lane's bins, top first: high, high - 1, ..., high - 7
            int own = 0;
#pragma unroll
            for (int i = 0; i < 8; i++) own += bins[high - i];
            int inclusive = own;
#pragma unroll
            for (int o = 1; o < 32; o <<= 1)
            {
                const int v = __shfl_up_sync(0xffffffffu, inclusive, o);
                if (lane >= o) inclusive += v;
            }
            const int above_lane = inclusive - own;  // keys in bins above the lane's
            // The first lane whose inclusive count reaches `remaining` holds the bin (bin 0 takes the rest).
            const unsigned reached = __ballot_sync(0xffffffffu, inclusive >= remaining);
            const int owner = reached != 0u ? __ffs(reached) - 1 : 31;
            if (lane == owner)
            {
                int above = above_lane;
                int b = high;
                for (int i = 0; i < 7 && b > 0; i++, b--)
                {
                    if (above + bins[b] >= remaining) break;
                    above += bins[b];
                }
                scan[32] = b;
                scan[33] = remaining - above;
            }
        }
        __syncthreads();
        prefix |= (unsigned)scan[32] << shift;
        mask |= 255u << shift;
        remaining = scan[33];
        __syncthreads();
    }
    const unsigned threshold = prefix;  // the k-th key; `remaining` of the keys equal to it are kept

    // Ordered compaction over contiguous per-thread segments.
    const int segment = (n + blockDim.x - 1) / blockDim.x;
    const int begin = min(n, threadIdx.x * segment);
    const int end = min(n, begin + segment);
    int greater = 0, equal = 0;
    for (int i = begin; i < end; i++)
    {
        const unsigned key = score_key(scores, i, forced_lo, forced_hi);
        greater += key > threshold;
        equal += key == threshold;
    }
    int total;
    const int equal_before = block_exclusive_scan(equal, scan, &total);
    const int equal_taken = max(0, min(equal, remaining - equal_before));
    const int write = block_exclusive_scan(greater + equal_taken, scan, &total);
    int at = write;
    int taken = 0;
    for (int i = begin; i < end; i++)
    {
        const unsigned key = score_key(scores, i, forced_lo, forced_hi);
        if (key > threshold || (key == threshold && taken++ < equal_taken)) out[at++] = i;
    }
}

// Vertical-Slash top-k: blockIdx.y 0 = columns (forced [0, 30)), 1 = slash offsets (forced [0, 100)).
// Slot s keeps budgets[2 s] columns into columns_out[s * column_stride ...] and budgets[2 s + 1]
// offsets into offsets_out[s * offset_stride ...].
extern "C" __global__ void __launch_bounds__(TopKThreads) vs_select_top_k(
    const float* column_scores, const float* slash_scores, long long score_stride, int n, const int* budgets,
    int forced_columns, int forced_offsets, int* columns_out, int column_stride, int* offsets_out, int offset_stride)
{
    __shared__ int shared[top_k_shared_ints(TopKWarps)];
    const int slot = blockIdx.x;
    if (blockIdx.y == 0)
    {
        top_k_block(column_scores + (long long)slot * score_stride, n, budgets[2 * slot], 0, forced_columns,
                    columns_out + (long long)slot * column_stride, shared);
    }
    else
    {
        top_k_block(slash_scores + (long long)slot * score_stride, n, budgets[2 * slot + 1], 0, forced_offsets,
                    offsets_out + (long long)slot * offset_stride, shared);
    }
}

// Test entry: top-k of rows of a [rows, n] matrix, row r keeping k[r] with [forced_lo[r], forced_hi[r]) forced.
extern "C" __global__ void __launch_bounds__(TopKThreads) top_k_rows(
    const float* scores, int n, const int* k, const int* forced_lo, const int* forced_hi, int* out, int out_stride)
{
    __shared__ int shared[top_k_shared_ints(TopKWarps)];
    const int r = blockIdx.x;
    top_k_block(scores + (long long)r * n, n, k[r], forced_lo[r], forced_hi[r], out + (long long)r * out_stride, shared);
}

// ---------------------------------------------------------------------------------------------------
// Vertical-Slash selection -> per-block index (VerticalSlashBlockIndex.Build, one thread per query
// block): offsets walked from the largest (ascending range starts), touching ranges merged; then the
// columns before the block's first position that fall in none of its ranges. Count pass, per-slot
// scan, write pass.

struct RangeWalk
{
    const int* offsets;
    int next;  // next offset index, walked downwards
    int first, last;

    // The next merged range [start, end); false when there is none.
    __device__ __forceinline__ bool advance(int& start, int& end)
    {
        bool have = false;
        while (next >= 0)
        {
            const int o = offsets[next];
            if (o > last)
            {
                next--;
                continue;
            }
            const int s = max(0, first - o);
            const int e = min(last + 1, first - o + EstimateKeyTile);
            if (!have)
            {
                start = s;
                end = e;
                have = true;
                next--;
            }
            else if (s <= end)
            {
                end = max(end, e);
                next--;
            }
            else
            {
                break;
            }
        }
        return have;
    }
};

template <bool Write>
__device__ __forceinline__ void vs_convert_block(
    const int* offsets, int offset_count, const int* columns, int column_count, int first, int last,
    int* range_count, int* column_out_count, int* range_bounds, int* columns_out)
{
    RangeWalk walk{offsets, offset_count - 1, first, last};
    int ranges = 0, kept = 0;
    int start = 0, end = 0;
    bool have = walk.advance(start, end);
    if (have)
    {
        if (Write) { range_bounds[0] = start; range_bounds[1] = end; }
        ranges = 1;
    }
    for (int i = 0; i < column_count; i++)
    {
        const int c = columns[i];
        if (c >= first) break;
        while (have && end <= c)
        {
            have = walk.advance(start, end);
            if (have)
            {
                if (Write) { range_bounds[2 * ranges] = start; range_bounds[2 * ranges + 1] = end; }
                ranges++;
            }
        }
        if (have && start <= c) continue;
        if (Write) columns_out[kept] = c;
        kept++;
    }
    while (have)
    {
        have = walk.advance(start, end);
        if (have)
        {
            if (Write) { range_bounds[2 * ranges] = start; range_bounds[2 * ranges + 1] = end; }
            ranges++;
        }
    }
    *range_count = ranges;
    *column_out_count = kept;
}

// grid (ceil(blocks / 128), slots). Writes block b's counts to range_offsets / column_offsets at
// slot * (blocks + 1) + b + 1 (the scan turns them into offsets).
extern "C" __global__ void vs_convert_count(
    const int* offsets, int offset_stride, const int* columns, int column_stride, const int* budgets,
    int span_start, int span_rows, int blocks, int* range_offsets, int* column_offsets)
{
    const int slot = blockIdx.y;
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= blocks) return;
    const int first = span_start + b * EstimateRows;
    const int last = span_start + min((b + 1) * EstimateRows, span_rows) - 1;
    int ranges, kept;
    vs_convert_block<false>(offsets + (long long)slot * offset_stride, budgets[2 * slot + 1], columns + (long long)slot * column_stride,
                            budgets[2 * slot], first, last, &ranges, &kept, nullptr, nullptr);
    const long long at = (long long)slot * (blocks + 1) + b + 1;
    range_offsets[at] = ranges;
    column_offsets[at] = kept;
}

// One block per (slot, array): inclusive scan of the counts in place, entry 0 set to 0; totals[2 slot + array].
extern "C" __global__ void __launch_bounds__(1024) sparse_offsets_scan(int* range_offsets, int* column_offsets, int blocks, int* totals)
{
    __shared__ int scratch[40];
    int* values = (blockIdx.y == 0 ? range_offsets : column_offsets) + (long long)blockIdx.x * (blocks + 1);
    if (threadIdx.x == 0) values[0] = 0;
    int carry = 0;
    for (int base = 1; base <= blocks; base += blockDim.x)
    {
        const int i = base + threadIdx.x;
        const int v = i <= blocks ? values[i] : 0;
        int total;
        const int before = block_exclusive_scan(v, scratch, &total);
        if (i <= blocks) values[i] = carry + before + v;
        carry += total;
        __syncthreads();
    }
    if (threadIdx.x == 0) totals[2 * blockIdx.x + blockIdx.y] = carry;
}

extern "C" __global__ void vs_convert_write(
    const int* offsets, int offset_stride, const int* columns, int column_stride, const int* budgets,
    int span_start, int span_rows, int blocks, const int* range_offsets, const int* column_offsets,
    const long long* range_base, const long long* column_base, int* range_bounds, int* columns_out)
{
    const int slot = blockIdx.y;
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= blocks) return;
    const int first = span_start + b * EstimateRows;
    const int last = span_start + min((b + 1) * EstimateRows, span_rows) - 1;
    const long long at = (long long)slot * (blocks + 1) + b;
    int ranges, kept;
    vs_convert_block<true>(offsets + (long long)slot * offset_stride, budgets[2 * slot + 1], columns + (long long)slot * column_stride,
                           budgets[2 * slot], first, last, &ranges, &kept,
                           range_bounds + 2 * (range_base[slot] + range_offsets[at]), columns_out + column_base[slot] + column_offsets[at]);
}

extern "C" __global__ void sparse_fill_i32(int* p, int value, long long n)
{
    FOR_EACH_ELEMENT(i, n) p[i] = value;
}

// ---------------------------------------------------------------------------------------------------
// Block-Sparse: 64-row means (f32) of a bf16 matrix's rows [0, rows), per column; then block scores
// pooled Q . pooled K per (query block, key block) of one slot, f32; then the top-k per query block.

extern "C" __global__ void bs_pool_rows(const bf16* src, long long rows, int columns, float* out)
{
    const long long block = blockIdx.y;
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= columns) return;
    const long long first = block * 64;
    const int count = (int)min(64LL, rows - first);
    float sum = 0.0f;
    for (int r = 0; r < count; r++) sum += __bfloat162float(src[(first + r) * columns + c]);
    out[block * columns + c] = sum / count;
}

// scores[qb][kb] for qb in [0, query_blocks), kb in [0, key_blocks); 128 x 128 outputs a block, 256
// threads, 8 x 8 each (rows ty * 4 + {0..3} and 64 + ty * 4 + {0..3}, columns likewise from tx), so a
// float4 pair of A and of B feeds 64 FMAs: the former 4 x 4 per thread issued one scalar shared load
// per two FMAs and ran at the shared-memory pipe's rate. Tiles wholly past every row's allowed blocks
// are skipped (their scores are never read). pooled_q row stride hq * D (the slot's head at head * D),
// pooled_k row stride hkv * D.
constexpr int BlockScoreTile = 128;
constexpr int BlockScoreDepth = 16;
constexpr int BlockScoreStride = BlockScoreTile + 4;

template <int D>
__device__ __forceinline__ void bs_block_scores(
    const float* pooled_q, const float* pooled_k, int head, int kv_head, int hq, int hkv, int query_blocks, int key_blocks,
    int span_start, int span_rows, float* scores)
{
    static_assert(D % BlockScoreDepth == 0, "head_dim must be a multiple of the staged depth");
    __shared__ __align__(16) float sq[BlockScoreDepth][BlockScoreStride];
    __shared__ __align__(16) float sk[BlockScoreDepth][BlockScoreStride];
    const int qb0 = blockIdx.y * BlockScoreTile;
    const int kb0 = blockIdx.x * BlockScoreTile;
    const int last_row_position = span_start + min((qb0 + BlockScoreTile) * 64, span_rows) - 1;
    if (kb0 > last_row_position / 64) return;
    const int tx = threadIdx.x & 15;
    const int ty = threadIdx.x >> 4;
    float acc[8][8] = {};
    for (int d0 = 0; d0 < D; d0 += BlockScoreDepth)
    {
        for (int i = threadIdx.x; i < BlockScoreTile * BlockScoreDepth; i += 256)
        {
            const int r = i / BlockScoreDepth;
            const int c = i % BlockScoreDepth;
            sq[c][r] = qb0 + r < query_blocks ? pooled_q[(long long)(qb0 + r) * hq * D + head * D + d0 + c] : 0.0f;
            sk[c][r] = kb0 + r < key_blocks ? pooled_k[(long long)(kb0 + r) * hkv * D + kv_head * D + d0 + c] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int c = 0; c < BlockScoreDepth; c++)
        {
            const float4 a0 = *reinterpret_cast<const float4*>(&sq[c][ty * 4]);
            const float4 a1 = *reinterpret_cast<const float4*>(&sq[c][64 + ty * 4]);
            const float4 b0 = *reinterpret_cast<const float4*>(&sk[c][tx * 4]);
            const float4 b1 = *reinterpret_cast<const float4*>(&sk[c][64 + tx * 4]);
            const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < 8; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 8; i++)
    {
        const int qb = qb0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
        if (qb >= query_blocks) continue;
#pragma unroll
        for (int j = 0; j < 8; j++)
        {
            const int kb = kb0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
            if (kb < key_blocks) scores[(long long)qb * key_blocks + kb] = acc[i][j];
        }
    }
}

// Per query block b of the slot: allowed = last / 64 + 1 key blocks, diagonal blocks [first / 64,
// allowed) forced, count = min(max(top, allowed - first / 64), allowed) written at block_offsets[b].
// 256 threads a block (n is at most 16K key blocks at 1M): 8 KB of histograms instead of 33 KB, so
// eight selections share an SM and each pass's histogram clearing and merging is a quarter as long.
extern "C" __global__ void __launch_bounds__(BlockTopKThreads) bs_select_top_k(
    const float* scores, int key_blocks, int span_start, int span_rows, int top_blocks, const int* block_offsets, int* key_blocks_out)
{
    __shared__ int shared[top_k_shared_ints(BlockTopKThreads / 32)];
    const int b = blockIdx.x;
    const int first = span_start + b * 64;
    const int last = span_start + min((b + 1) * 64, span_rows) - 1;
    const int allowed = last / 64 + 1;
    const int diagonal = first / 64;
    const int count = min(max(top_blocks, allowed - diagonal), allowed);
    top_k_block(scores + (long long)b * key_blocks, allowed, count, diagonal, allowed, key_blocks_out + block_offsets[b], shared);
}

// ---------------------------------------------------------------------------------------------------
// Work of a built index: (query, key) pairs its kernel computes after the causal mask, summed per slot.

// Sum over rows p in [first, last] of the keys of [start, end) at or before p.
__device__ __forceinline__ unsigned long long range_pairs(long long start, long long end, long long first, long long last)
{
    unsigned long long total = 0;
    const long long full_from = max(first, end - 1);
    if (full_from <= last) total += (unsigned long long)((last - full_from + 1) * (end - start));
    const long long part_from = max(first, start);
    const long long part_to = min(last, end - 2);
    if (part_from <= part_to)
    {
        total += (unsigned long long)(((part_from + 1 - start) + (part_to + 1 - start)) * (part_to - part_from + 1) / 2);
    }
    return total;
}

extern "C" __global__ void vs_index_pairs(
    const int* range_offsets, const int* range_bounds, const long long* range_base, const int* column_offsets,
    int span_start, int span_rows, int blocks, unsigned long long* pairs)
{
    const int slot = blockIdx.y;
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= blocks) return;
    const int first = span_start + b * EstimateRows;
    const int last = span_start + min((b + 1) * EstimateRows, span_rows) - 1;
    const long long at = (long long)slot * (blocks + 1) + b;
    const int* bounds = range_bounds + 2 * range_base[slot];
    unsigned long long total = (unsigned long long)(column_offsets[at + 1] - column_offsets[at]) * (last - first + 1);
    for (int i = range_offsets[at]; i < range_offsets[at + 1]; i++) total += range_pairs(bounds[2 * i], bounds[2 * i + 1], first, last);
    atomicAdd(pairs + slot, total);
}

extern "C" __global__ void bs_index_pairs(
    const int* block_offsets, const int* key_blocks, const long long* block_base, int span_start, int span_rows, int blocks,
    unsigned long long* pairs)
{
    const int slot = blockIdx.y;
    const int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= blocks) return;
    const int first = span_start + b * EstimateRows;
    const int last = span_start + min((b + 1) * EstimateRows, span_rows) - 1;
    const long long at = (long long)slot * (blocks + 1) + b;
    const int* chosen = key_blocks + block_base[slot];
    unsigned long long total = 0;
    for (int i = block_offsets[at]; i < block_offsets[at + 1]; i++)
    {
        const long long start = (long long)chosen[i] * 64;
        total += range_pairs(start, min(start + 64, (long long)last + 1), first, last);
    }
    atomicAdd(pairs + slot, total);
}

#define SPARSE_INDEX_KERNELS(D)                                                                                                    \
    extern "C" __global__ void __launch_bounds__(EstimateThreads) vs_estimate_stats_d##D(                                         \
        const bf16* q, const bf16* k, int span_rows, int span_start, int hq, int hkv, float scale_log2, const int* heads,         \
        int chunk_keys, float2* partial)                                                                                          \
    {                                                                                                                              \
        vs_estimate_stats<D>(q, k, span_rows, span_start, hq, hkv, scale_log2, heads, chunk_keys, partial);                       \
    }                                                                                                                              \
    extern "C" __global__ void __launch_bounds__(EstimateThreads) vs_estimate_scores_d##D(                                        \
        const bf16* q, const bf16* k, int span_rows, int span_start, int hq, int hkv, float scale_log2, const int* heads,         \
        int chunk_keys, const float2* stats, long long score_stride, float* column_scores, float* slash_scores)                   \
    {                                                                                                                              \
        vs_estimate_scores<D>(q, k, span_rows, span_start, hq, hkv, scale_log2, heads, chunk_keys, stats, score_stride,           \
                              column_scores, slash_scores);                                                                       \
    }                                                                                                                              \
    extern "C" __global__ void __launch_bounds__(256) bs_block_scores_d##D(                                                       \
        const float* pooled_q, const float* pooled_k, int head, int kv_head, int hq, int hkv, int query_blocks, int key_blocks,  \
        int span_start, int span_rows, float* scores)                                                                             \
    {                                                                                                                              \
        bs_block_scores<D>(pooled_q, pooled_k, head, kv_head, hq, hkv, query_blocks, key_blocks, span_start, span_rows, scores);  \
    }

SPARSE_INDEX_KERNELS(64)
SPARSE_INDEX_KERNELS(128)
