// Flash attention forward on Hopper warpgroup MMA (wgmma, sm_90a), d 128: dense causal (same contract as
// flash_attention_mma.cu), and, on the generic tile walk below, A-shape and block-sparse (same contracts as
// sparse_attention_mma.cu's kernels of those names).
//
// Same contract, arguments and layouts as flash_attention_mma.cu (q/o [rows, hq, 128], k/v [keys,
// hkv, 128], bf16; grid x = query head, y = query blocks, last block first), so the host swaps it in
// for d 128 on compute capability 9.0. A block holds WarpGroups warpgroups; each owns 64 query rows
// and computes S = Q·Kᵀ with wgmma (Q and K from shared memory) and O += P·V with wgmma (P from
// registers, V from shared memory, transposed). The warpgroups share K/V tiles of KeyTile keys that
// stream through a Stages-deep cp.async pipeline, one barrier per tile. Shared tiles use wgmma's
// 128-byte swizzle: each tile is two column blocks of 64 dims (128-byte rows), and row r's 16-byte
// chunk c is stored at chunk c ^ (r % 8), which also keeps the cp.async stores conflict-free.
// On passes other than sm_90a the kernels exist (the host binds every name) but trap if launched.
#include "wgmma_primitives.cuh"

// Byte offset of 16-byte chunk `chunk` (0..15) of row r in a swizzled tile of `rows` rows x 128 dims.
__device__ __forceinline__ uint32_t wgmma_tile_offset(int rows, int r, int chunk)
{
    return (uint32_t)((chunk >> 3) * rows * 128 + r * 128 + (((chunk & 7) ^ (r & 7)) << 4));
}

// PvMode picks how P·V addresses V (the MN-major descriptor): 0 = one m64n128 per 16 keys, leading
// offset = the distance between the two 64-dim blocks, stride = 1024 (8 keys); 1 = the same with the
// two offsets exchanged; 2 = two m64n64 per 16 keys (one per 64-dim block), both offsets 1024. The
// harness (deploy/gpu/wgmma) checks each; the fatbin instantiates the one that passed.
template <int WarpGroups, int KeyTile, int Stages, int PvMode>
__device__ __forceinline__ void flash_attention_wgmma_d128(
    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, bf16* __restrict__ o,
    long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    static_assert(KeyTile == 64 || KeyTile == 128, "key tiles are one wgmma N: 64 or 128");
    static_assert(Stages >= 2, "the pipeline needs at least two stages");
    constexpr int D = 128;
    constexpr int Threads = WarpGroups * 128;
    constexpr int Rows = WarpGroups * 64;
    constexpr int Chunks = D / 8;
    constexpr int ScoreRegs = KeyTile / 2;
    constexpr int ScoreTiles = KeyTile / 8;
    constexpr int OutRegs = D / 2;
    constexpr int OutTiles = D / 8;
    constexpr uint32_t QBytes = Rows * D * 2;
    constexpr uint32_t TileBytes = KeyTile * D * 2;
    constexpr uint32_t BlockBytes = KeyTile * 128;

    extern __shared__ __align__(16) unsigned char shared_raw[];
    // The swizzle pattern is a function of address bits 4-9: tiles start on 1024-byte boundaries (the
    // host adds 1 KB of slack).
    const uint32_t sQ = (shared_address(shared_raw) + 1023u) & ~1023u;
    const uint32_t sK = sQ + QBytes;
    const uint32_t sV = sK + Stages * TileBytes;

    const int head = blockIdx.x;
    const int kv_head = head / (hq / hkv);
    const long long q_block = (long long)gridDim.y - 1 - blockIdx.y;
    const long long row0 = q_block * Rows;
    const int wg = threadIdx.x >> 7;
    const int warp = (threadIdx.x >> 5) & 3;
    const int lane = threadIdx.x & 31;
    const int group = lane >> 2;
    const int quad = lane & 3;

    const long long q_stride = (long long)hq * D;
    const long long kv_stride = (long long)hkv * D;
    const bf16* k_head = k + (long long)kv_head * D;
    const bf16* v_head = v + (long long)kv_head * D;

    for (int idx = threadIdx.x; idx < Rows * Chunks; idx += Threads)
    {
        const int r = idx / Chunks;
        const int c = idx % Chunks;
        const bool valid = row0 + r < q_rows;
        const bf16* src = valid ? q + (row0 + r) * q_stride + (long long)head * D + c * 8 : q;
        cp_async_16(sQ + wgmma_tile_offset(Rows, r, c), src, valid);
    }

    const long long block_last_row = min(row0 + Rows, q_rows) - 1;
    const long long kv_end = query_start + block_last_row + 1;
    const int tiles = (int)((kv_end + KeyTile - 1) / KeyTile);

    auto load_tile = [&](int tile, int stage) {
        const long long kt = (long long)tile * KeyTile;
        const uint32_t dk = sK + stage * TileBytes;
        const uint32_t dv = sV + stage * TileBytes;
        for (int idx = threadIdx.x; idx < KeyTile * Chunks; idx += Threads)
        {
            const int r = idx / Chunks;
            const int c = idx % Chunks;
            const bool valid = kt + r < kv_end;
            const long long offset = valid ? (kt + r) * kv_stride + c * 8 : 0;
            const uint32_t at = wgmma_tile_offset(KeyTile, r, c);
            cp_async_16(dk + at, k_head + offset, valid);
            cp_async_16(dv + at, v_head + offset, valid);
        }
    };

#pragma unroll
    for (int t = 0; t < Stages - 1; t++)
    {
        if (t < tiles) load_tile(t, t);
        cp_async_commit();
    }

    float out[OutRegs];
#pragma unroll
    for (int i = 0; i < OutRegs; i++) out[i] = 0.0f;
    float row_max[2] = {-INFINITY, -INFINITY};
    float row_sum[2] = {0.0f, 0.0f};

    const long long wg_first = query_start + row0 + wg * 64;
    const long long wg_last = wg_first + 63;
    const long long warp_first = wg_first + warp * 16;
    // This warpgroup's 64 Q rows: row 64 wg of each 64-dim block (8-row groups 1024 bytes apart).
    const uint32_t q_rows_at = sQ + wg * 64 * 128;

    for (int tile = 0; tile < tiles; tile++)
    {
        const int stage = tile % Stages;
        cp_async_wait<Stages - 2>();
        fence_proxy_async_shared();
        __syncthreads();
        // Every warpgroup is past the barrier and its wgmma of tile - 1 have completed (waited), so
        // that stage is refilled now.
        if (tile + Stages - 1 < tiles) load_tile(tile + Stages - 1, (tile + Stages - 1) % Stages);
        cp_async_commit();

        const long long kt = (long long)tile * KeyTile;
        // Warpgroup-uniform: wgmma needs all four warps.
        if (kt > wg_last) continue;
        const uint32_t tk = sK + stage * TileBytes;
        const uint32_t tv = sV + stage * TileBytes;

        float s[ScoreRegs];
        wgmma_fence();
#pragma unroll
        for (int ks = 0; ks < D / 16; ks++)
        {
            // k-step ks: 64-dim block ks / 4, 32 bytes per 16 dims inside the swizzled 128-byte row.
            const uint64_t da = wgmma_descriptor(q_rows_at + (ks >> 2) * Rows * 128 + (ks & 3) * 32, 16, 1024);
            const uint64_t db = wgmma_descriptor(tk + (ks >> 2) * BlockBytes + (ks & 3) * 32, 16, 1024);
            if constexpr (KeyTile == 128)
                wgmma_ss_m64n128k16(s, da, db, ks > 0);
            else
                wgmma_ss_m64n64k16(s, da, db, ks > 0);
        }
        wgmma_commit();
        wgmma_wait<0>();
        wgmma_hold(s);

        // Only tiles that reach past the warp's first row need the causal mask (32-bit offsets).
        if (kt + KeyTile - 1 > warp_first)
        {
            const int limit = (int)(warp_first + group - kt);
#pragma unroll
            for (int t = 0; t < ScoreTiles; t++)
            {
#pragma unroll
                for (int e = 0; e < 4; e++)
                {
                    if (t * 8 + quad * 2 + (e & 1) > limit + (e >> 1) * 8) s[4 * t + e] = -INFINITY;
                }
            }
        }

        float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int t = 0; t < ScoreTiles; t++)
        {
            tile_max[0] = fmaxf(tile_max[0], fmaxf(s[4 * t], s[4 * t + 1]));
            tile_max[1] = fmaxf(tile_max[1], fmaxf(s[4 * t + 2], s[4 * t + 3]));
        }
        float alpha[2];
        float scaled_max[2];
#pragma unroll
        for (int h = 0; h < 2; h++)
        {
            float mx = tile_max[h];
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
            // Key 0 is in tile 0, which every row sees first, so the running maximum is finite.
            const float m_new = fmaxf(row_max[h], mx);
            alpha[h] = fast_exp2((row_max[h] - m_new) * scale_log2);
            row_max[h] = m_new;
            scaled_max[h] = m_new * scale_log2;
        }

        float tile_sum[2] = {0.0f, 0.0f};
#pragma unroll
        for (int i = 0; i < ScoreRegs; i++)
        {
            s[i] = fast_exp2(fmaf(s[i], scale_log2, -scaled_max[(i >> 1) & 1]));
            tile_sum[(i >> 1) & 1] += s[i];
        }
        row_sum[0] = row_sum[0] * alpha[0] + tile_sum[0];
        row_sum[1] = row_sum[1] * alpha[1] + tile_sum[1];
        if (__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f))
        {
#pragma unroll
            for (int i = 0; i < OutRegs; i++) out[i] *= alpha[(i >> 1) & 1];
        }

        // The S accumulators of keys [16kk, 16kk + 16) are, packed to bf16, the A fragment of P·V.
        uint32_t pa[KeyTile / 16][4];
#pragma unroll
        for (int kk = 0; kk < KeyTile / 16; kk++)
        {
            pa[kk][0] = pack_bf16x2(s[8 * kk], s[8 * kk + 1]);
            pa[kk][1] = pack_bf16x2(s[8 * kk + 2], s[8 * kk + 3]);
            pa[kk][2] = pack_bf16x2(s[8 * kk + 4], s[8 * kk + 5]);
            pa[kk][3] = pack_bf16x2(s[8 * kk + 6], s[8 * kk + 7]);
        }

        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < KeyTile / 16; kk++)
        {
            // Keys 16kk..16kk+15: rows 16kk of both 64-dim blocks (2048 bytes per 16 keys).
            const uint32_t at = tv + kk * 2048;
            if constexpr (PvMode == 0)
            {
                wgmma_rs_m64n128k16_tb(out, pa[kk], wgmma_descriptor(at, BlockBytes, 1024), 1);
            }
            else if constexpr (PvMode == 1)
            {
                wgmma_rs_m64n128k16_tb(out, pa[kk], wgmma_descriptor(at, 1024, BlockBytes), 1);
            }
            else
            {
                float(&low)[OutRegs / 2] = *reinterpret_cast<float(*)[OutRegs / 2]>(&out[0]);
                float(&high)[OutRegs / 2] = *reinterpret_cast<float(*)[OutRegs / 2]>(&out[OutRegs / 2]);
                wgmma_rs_m64n64k16_tb(low, pa[kk], wgmma_descriptor(at, 1024, 1024), 1);
                wgmma_rs_m64n64k16_tb(high, pa[kk], wgmma_descriptor(at + BlockBytes, 1024, 1024), 1);
            }
        }
        wgmma_commit();
        wgmma_wait<0>();
        wgmma_hold(out);
        wgmma_hold(pa);
    }

#pragma unroll
    for (int h = 0; h < 2; h++)
    {
        float total = row_sum[h];
        total += __shfl_xor_sync(0xffffffffu, total, 1);
        total += __shfl_xor_sync(0xffffffffu, total, 2);
        const long long row = row0 + wg * 64 + warp * 16 + group + h * 8;
        if (row < q_rows)
        {
            const float inv = 1.0f / total;
            bf16* dst = o + row * q_stride + (long long)head * D + quad * 2;
#pragma unroll
            for (int t = 0; t < OutTiles; t++)
            {
                *reinterpret_cast<__nv_bfloat162*>(dst + t * 8) =
                    __floats2bfloat162_rn(out[4 * t + 2 * h] * inv, out[4 * t + 2 * h + 1] * inv);
            }
        }
    }
#else
    __trap();
#endif
}

// ---- The pipelined form: the softmax of the next key tile runs while this tile's P·V does ----
//
// Per warpgroup and tile: issue S(t+1) = Q·K(t+1)ᵀ and O += P(t)·V(t) (async), wait for S(t+1) only, run
// its softmax on the CUDA cores while P·V runs on the tensor cores, then wait for P·V. The K/V tiles come from a walk (dense: every tile up to the diagonal; A-shape:
// sink tiles then window tiles), Stages >= 3 deep: at tile t the stages hold t and t + 1 (both read by
// wgmma in flight) and t - 1's stage is refilled with t + Stages - 1.

// Dense causal: tiles of KeyTile keys from 0 to the block's last row.
template <int KeyTile>
struct WgmmaDenseWalk
{
    long long key_end;

    __device__ __forceinline__ int count() const { return (int)((key_end + KeyTile - 1) / KeyTile); }
    __device__ __forceinline__ long long start(int i) const { return (long long)i * KeyTile; }
    __device__ __forceinline__ int valid(int i) const { return (int)min((long long)KeyTile, key_end - start(i)); }
    __device__ __forceinline__ bool window(int) const { return false; }
};

// A-shape: sink keys [0, sink_end) in causal tiles, then window keys [window_start, window_end) in window
// tiles (a row sees key j there when row - j < local); window_start >= sink_end, so no key counts twice.
template <int KeyTile>
struct WgmmaAShapeWalk
{
    long long sink_end, window_start, window_end;

    __device__ __forceinline__ int sink_tiles() const { return (int)((sink_end + KeyTile - 1) / KeyTile); }
    __device__ __forceinline__ int count() const
    {
        return sink_tiles() + (window_end > window_start ? (int)((window_end - window_start + KeyTile - 1) / KeyTile) : 0);
    }
    __device__ __forceinline__ long long start(int i) const
    {
        const int sinks = sink_tiles();
        return i < sinks ? (long long)i * KeyTile : window_start + (long long)(i - sinks) * KeyTile;
    }
    __device__ __forceinline__ int valid(int i) const
    {
        return (int)min((long long)KeyTile, (i < sink_tiles() ? sink_end : window_end) - start(i));
    }
    __device__ __forceinline__ bool window(int i) const { return i >= sink_tiles(); }
};

// Block-sparse: the listed 64-key blocks of one 64-row query block (sparse_attention_mma.cu's index), each
// a causal tile cut at the key length.
struct WgmmaBlockSparseWalk
{
    const int* key_blocks;
    int item, item_stop;
    long long key_length;

    __device__ __forceinline__ int count() const { return item_stop - item; }
    __device__ __forceinline__ long long start(int i) const { return (long long)__ldg(key_blocks + item + i) * 64; }
    __device__ __forceinline__ int valid(int i) const { return (int)min(64ll, key_length - start(i)); }
    __device__ __forceinline__ bool window(int) const { return false; }
};

// Issues S[64 x KeyTile] = Q·Kᵀ for one warpgroup (8 k-steps of 16 dims) and commits them as one group.
// q_at: the warpgroup's first Q row in block 0; q_block_bytes: one 64-dim block of the Q tile.
template <int KeyTile>
__device__ __forceinline__ void wgmma_issue_scores(float (&s)[KeyTile / 2], uint32_t q_at, uint32_t q_block_bytes, uint32_t tk)
{
#pragma unroll
    for (int ks = 0; ks < 8; ks++)
    {
        const uint64_t da = wgmma_descriptor(q_at + (ks >> 2) * q_block_bytes + (ks & 3) * 32, 16, 1024);
        const uint64_t db = wgmma_descriptor(tk + (ks >> 2) * KeyTile * 128 + (ks & 3) * 32, 16, 1024);
        if constexpr (KeyTile == 128)
            wgmma_ss_m64n128k16(s, da, db, ks > 0);
        else
            wgmma_ss_m64n64k16(s, da, db, ks > 0);
    }
    wgmma_commit();
}

// Issues O[64 x 128] += P·V (P from registers, V's tile at tv) and commits them as one group.
template <int KeyTile, int PvMode>
__device__ __forceinline__ void wgmma_issue_pv(float (&out)[64], const uint32_t (&pa)[KeyTile / 16][4], uint32_t tv)
{
#pragma unroll
    for (int kk = 0; kk < KeyTile / 16; kk++)
    {
        const uint32_t at = tv + kk * 2048;
        if constexpr (PvMode == 0)
        {
            wgmma_rs_m64n128k16_tb(out, pa[kk], wgmma_descriptor(at, KeyTile * 128, 1024), 1);
        }
        else
        {
            float(&low)[32] = *reinterpret_cast<float(*)[32]>(&out[0]);
            float(&high)[32] = *reinterpret_cast<float(*)[32]>(&out[32]);
            wgmma_rs_m64n64k16_tb(low, pa[kk], wgmma_descriptor(at, 1024, 1024), 1);
            wgmma_rs_m64n64k16_tb(high, pa[kk], wgmma_descriptor(at + KeyTile * 128, 1024, 1024), 1);
        }
    }
    wgmma_commit();
}

// Online softmax of one score tile for the thread's two rows: masking, running maxima and sums, P = the
// exponentials left in s, and alpha, the factor O must be scaled by before P·V adds to it (applied by
// wgmma_rescale_pack once O's own wgmma are done). rel: the thread's first row position minus the tile's
// first key; a key at column c is masked when c > rel + 8h (causal), c >= valid (past the tile's keys)
// or, in window tiles, c <= rel + 8h - local.
template <int KeyTile>
__device__ __forceinline__ void wgmma_softmax(
    float (&s)[KeyTile / 2], float (&row_max)[2], float (&row_sum)[2], float (&alpha)[2],
    bool mask, int rel, int valid, bool window, int local, int quad, float scale_log2)
{
    if (mask)
    {
#pragma unroll
        for (int i = 0; i < KeyTile / 2; i++)
        {
            const int col = (i >> 2) * 8 + quad * 2 + (i & 1);
            const int limit = rel + ((i >> 1) & 1) * 8;
            if (col > limit || col >= valid || (window && col <= limit - local)) s[i] = -INFINITY;
        }
    }
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int i = 0; i < KeyTile / 2; i++) tile_max[(i >> 1) & 1] = fmaxf(tile_max[(i >> 1) & 1], s[i]);
    float scaled_max[2];
#pragma unroll
    for (int h = 0; h < 2; h++)
    {
        float mx = tile_max[h];
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(row_max[h], mx);
        // A row may not have seen any key yet (A-shape window tiles): exponents against 0 give 0.
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;
        alpha[h] = fast_exp2((row_max[h] - m_use) * scale_log2);
        row_max[h] = m_new;
        scaled_max[h] = m_use * scale_log2;
    }
    float tile_sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < KeyTile / 2; i++)
    {
        s[i] = fast_exp2(fmaf(s[i], scale_log2, -scaled_max[(i >> 1) & 1]));
        tile_sum[(i >> 1) & 1] += s[i];
    }
    row_sum[0] = row_sum[0] * alpha[0] + tile_sum[0];
    row_sum[1] = row_sum[1] * alpha[1] + tile_sum[1];
}

// O *= alpha (skipped when no row maximum of the warp moved), then P packed to bf16 as the A fragments of
// P·V: the S accumulators of keys [16kk, 16kk + 16) line up with the m16n8k16 A layout.
template <int KeyTile>
__device__ __forceinline__ void wgmma_rescale_pack(float (&out)[64], const float (&alpha)[2], const float (&s)[KeyTile / 2], uint32_t (&pa)[KeyTile / 16][4])
{
    if (__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f))
    {
#pragma unroll
        for (int i = 0; i < 64; i++) out[i] *= alpha[(i >> 1) & 1];
    }
#pragma unroll
    for (int kk = 0; kk < KeyTile / 16; kk++)
    {
        pa[kk][0] = pack_bf16x2(s[8 * kk], s[8 * kk + 1]);
        pa[kk][1] = pack_bf16x2(s[8 * kk + 2], s[8 * kk + 3]);
        pa[kk][2] = pack_bf16x2(s[8 * kk + 4], s[8 * kk + 5]);
        pa[kk][3] = pack_bf16x2(s[8 * kk + 6], s[8 * kk + 7]);
    }
}

// The pipelined kernel body. Rows of the block: row0 .. row0 + 64 * WarpGroups - 1 (positions query_start +
// row); `local` is the A-shape window (unused by dense walks).
template <int WarpGroups, int KeyTile, int Stages, int PvMode, bool Pipelined, class Walk>
__device__ __forceinline__ void wgmma_attention_walk(
    const Walk& walk, long long row0, int local, int head, const bf16* __restrict__ q, const bf16* __restrict__ k,
    const bf16* __restrict__ v, bf16* __restrict__ o, long long q_rows, long long query_start, int hq, int hkv, float scale_log2)
{
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    static_assert(KeyTile == 64 || KeyTile == 128, "key tiles are one wgmma N: 64 or 128");
    static_assert(Stages >= (Pipelined ? 3 : 2), "the pipelined form keeps two tiles in flight and refills a third");
    constexpr int D = 128;
    constexpr int Threads = WarpGroups * 128;
    constexpr int Rows = WarpGroups * 64;
    constexpr int Chunks = D / 8;
    constexpr uint32_t QBytes = Rows * D * 2;
    constexpr uint32_t TileBytes = KeyTile * D * 2;

    extern __shared__ __align__(16) unsigned char shared_raw[];
    const uint32_t sQ = (shared_address(shared_raw) + 1023u) & ~1023u;
    const uint32_t sK = sQ + QBytes;
    const uint32_t sV = sK + Stages * TileBytes;

    const int kv_head = head / (hq / hkv);
    const int wg = threadIdx.x >> 7;
    const int warp = (threadIdx.x >> 5) & 3;
    const int lane = threadIdx.x & 31;
    const int group = lane >> 2;
    const int quad = lane & 3;
    const long long q_stride = (long long)hq * D;
    const long long kv_stride = (long long)hkv * D;
    const bf16* k_head = k + (long long)kv_head * D;
    const bf16* v_head = v + (long long)kv_head * D;

    for (int idx = threadIdx.x; idx < Rows * Chunks; idx += Threads)
    {
        const int r = idx / Chunks;
        const int c = idx % Chunks;
        const bool valid = row0 + r < q_rows;
        const bf16* src = valid ? q + (row0 + r) * q_stride + (long long)head * D + c * 8 : q;
        cp_async_16(sQ + wgmma_tile_offset(Rows, r, c), src, valid);
    }

    const int tiles = walk.count();
    auto load_tile = [&](int tile, int stage) {
        const long long kt = walk.start(tile);
        const int valid_keys = walk.valid(tile);
        const uint32_t dk = sK + stage * TileBytes;
        const uint32_t dv = sV + stage * TileBytes;
        for (int idx = threadIdx.x; idx < KeyTile * Chunks; idx += Threads)
        {
            const int r = idx / Chunks;
            const int c = idx % Chunks;
            const bool valid = r < valid_keys;
            const long long offset = valid ? (kt + r) * kv_stride + c * 8 : 0;
            const uint32_t at = wgmma_tile_offset(KeyTile, r, c);
            cp_async_16(dk + at, k_head + offset, valid);
            cp_async_16(dv + at, v_head + offset, valid);
        }
    };

#pragma unroll
    for (int t = 0; t < Stages - 1; t++)
    {
        if (t < tiles) load_tile(t, t);
        cp_async_commit();
    }

    float out[64];
#pragma unroll
    for (int i = 0; i < 64; i++) out[i] = 0.0f;
    float row_max[2] = {-INFINITY, -INFINITY};
    float row_sum[2] = {0.0f, 0.0f};

    const long long wg_first = query_start + row0 + wg * 64;
    const long long wg_last = wg_first + 63;
    const long long warp_first = wg_first + warp * 16;
    const uint32_t q_at = sQ + wg * 64 * 128;
    // Warpgroup-uniform: whether any of its 64 rows sees a key of the tile.
    auto live = [&](int tile) {
        if (tile >= tiles) return false;
        const long long kt = walk.start(tile);
        if (kt > wg_last) return false;
        return !walk.window(tile) || kt + walk.valid(tile) - 1 > wg_first - local;
    };

    // Softmax of tile t + 1 on the CUDA cores runs while the tensor cores compute O += P(t)·V(t): per
    // step, S(t + 1) and P(t)·V(t) are issued back to back, the wait for S(t + 1) leaves P·V in flight,
    // and O is rescaled (and P(t + 1) packed into pa, which P·V reads) only after the wait for P·V.
    float s[KeyTile / 2];
    uint32_t pa[KeyTile / 16][4];
    float alpha[2];
    auto softmax = [&](int tile) {
        const long long kt = walk.start(tile);
        const int valid = walk.valid(tile);
        const bool window = walk.window(tile);
        const bool mask = kt + KeyTile - 1 > warp_first || valid < KeyTile || (window && kt <= warp_first + 15 - local);
        wgmma_softmax<KeyTile>(s, row_max, row_sum, alpha, mask, (int)(warp_first + group - kt), valid, window, local, quad, scale_log2);
    };

    if constexpr (Pipelined)
    {
        cp_async_wait<Stages - 2>();
        fence_proxy_async_shared();
        __syncthreads();
    }
    if (Pipelined && live(0))
    {
        wgmma_fence();
        wgmma_issue_scores<KeyTile>(s, q_at, Rows * 128, sK);
        wgmma_wait<0>();
        wgmma_hold(s);
        softmax(0);
        wgmma_rescale_pack<KeyTile>(out, alpha, s, pa);
    }

    for (int tile = 0; tile < tiles; tile++)
    {
        // Groups committed: tiles 0 .. tile + Stages - 2; the pipelined form needs tile + 1's landed, the
        // lockstep form tile's.
        cp_async_wait<Pipelined ? Stages - 3 : Stages - 2>();
        fence_proxy_async_shared();
        __syncthreads();
        // Every warpgroup has waited for its wgmma of tile - 1: that stage takes tile + Stages - 1.
        if (tile + Stages - 1 < tiles) load_tile(tile + Stages - 1, (tile + Stages - 1) % Stages);
        cp_async_commit();
        if constexpr (!Pipelined)
        {
            // Lockstep: S, softmax, P·V, each wgmma batch waited for at once (the measured-faster form:
            // ptxas serialises the pipelined one, C7520, wgmma under warpgroup-uniform branches).
            if (!live(tile)) continue;
            wgmma_fence();
            wgmma_issue_scores<KeyTile>(s, q_at, Rows * 128, sK + (tile % Stages) * TileBytes);
            wgmma_wait<0>();
            wgmma_hold(s);
            softmax(tile);
            wgmma_rescale_pack<KeyTile>(out, alpha, s, pa);
            wgmma_fence();
            wgmma_issue_pv<KeyTile, PvMode>(out, pa, sV + (tile % Stages) * TileBytes);
            wgmma_wait<0>();
            wgmma_hold(out);
            wgmma_hold(pa);
            continue;
        }
        const bool cur_live = live(tile);
        const bool next_live = live(tile + 1);
        if (!cur_live && !next_live) continue;
        wgmma_fence();
        if (next_live) wgmma_issue_scores<KeyTile>(s, q_at, Rows * 128, sK + ((tile + 1) % Stages) * TileBytes);
        if (cur_live) wgmma_issue_pv<KeyTile, PvMode>(out, pa, sV + (tile % Stages) * TileBytes);
        if (next_live)
        {
            if (cur_live)
                wgmma_wait<1>();
            else
                wgmma_wait<0>();
            wgmma_hold(s);
            softmax(tile + 1);
        }
        wgmma_wait<0>();
        wgmma_hold(out);
        wgmma_hold(pa);
        if (next_live) wgmma_rescale_pack<KeyTile>(out, alpha, s, pa);
    }

#pragma unroll
    for (int h = 0; h < 2; h++)
    {
        float total = row_sum[h];
        total += __shfl_xor_sync(0xffffffffu, total, 1);
        total += __shfl_xor_sync(0xffffffffu, total, 2);
        const long long row = row0 + wg * 64 + warp * 16 + group + h * 8;
        if (row < q_rows)
        {
            const float inv = total > 0.0f ? 1.0f / total : 0.0f;
            bf16* dst = o + row * q_stride + (long long)head * D + quad * 2;
#pragma unroll
            for (int t = 0; t < 16; t++)
            {
                *reinterpret_cast<__nv_bfloat162*>(dst + t * 8) =
                    __floats2bfloat162_rn(out[4 * t + 2 * h] * inv, out[4 * t + 2 * h + 1] * inv);
            }
        }
    }
#else
    __trap();
#endif
}

// Dense causal, pipelined: same arguments and grid as flash_attention_mma (y runs over 64 * WarpGroups-row
// blocks, last block first).
#define MINFERENCE_FLASH_WGMMA_PIPELINED(NAME, GROUPS, KEYS, STAGES, PVMODE)                                         \
    extern "C" __global__ void __launch_bounds__(GROUPS * 128, 1)                                                      \
        NAME(const bf16* q, const bf16* k, const bf16* v, bf16* o, long long q_rows, long long query_start, int hq,   \
             int hkv, float scale_log2)                                                                               \
    {                                                                                                                 \
        const long long row0 = ((long long)gridDim.y - 1 - blockIdx.y) * (GROUPS * 64);                              \
        WgmmaDenseWalk<KEYS> walk{query_start + min(row0 + GROUPS * 64, q_rows)};                                     \
        wgmma_attention_walk<GROUPS, KEYS, STAGES, PVMODE, true>(walk, row0, 0, blockIdx.x, q, k, v, o, q_rows,       \
                                                                 query_start, hq, hkv, scale_log2);                  \
    }

// A-shape (sink + window), same arguments as sparse_attention_ashape_d128 (grid y over 64 * WarpGroups-row
// blocks in order); HEADS_NAME takes per-slot heads and budgets as sparse_attention_ashape_heads_d128.
#define MINFERENCE_ASHAPE_WGMMA(NAME, HEADS_NAME, GROUPS, KEYS, STAGES, PIPELINED)                                    \
    __device__ __forceinline__ void NAME##_body(const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows,     \
                                                int query_start, int hq, int hkv, float scale_log2, int init_keys,    \
                                                int local_keys, int head)                                             \
    {                                                                                                                 \
        const long long row0 = (long long)blockIdx.y * (GROUPS * 64);                                                 \
        const long long first = query_start + row0;                                                                   \
        const long long last = query_start + min(row0 + GROUPS * 64, (long long)q_rows) - 1;                          \
        WgmmaAShapeWalk<KEYS> walk;                                                                                   \
        walk.sink_end = min((long long)init_keys, last + 1);                                                          \
        walk.window_start = max((long long)init_keys, first - local_keys + 1);                                        \
        walk.window_end = last + 1;                                                                                   \
        wgmma_attention_walk<GROUPS, KEYS, STAGES, 0, PIPELINED>(walk, row0, local_keys, head, q, k, v, o, q_rows,    \
                                                                 query_start, hq, hkv, scale_log2);                  \
    }                                                                                                                 \
    extern "C" __global__ void __launch_bounds__(GROUPS * 128, 1)                                                      \
        NAME(const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv,      \
             float scale_log2, int init_keys, int local_keys)                                                         \
    {                                                                                                                 \
        NAME##_body(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2, init_keys, local_keys, blockIdx.x);        \
    }                                                                                                                 \
    extern "C" __global__ void __launch_bounds__(GROUPS * 128, 1)                                                      \
        HEADS_NAME(const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq,         \
                   int hkv, float scale_log2, const int* heads, const int* init_keys, const int* local_keys)          \
    {                                                                                                                 \
        const int slot = blockIdx.x;                                                                                  \
        NAME##_body(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2, init_keys[slot], local_keys[slot],         \
                    heads[slot]);                                                                                     \
    }

// flash_attention_wgmma_d128_g{warpgroups}_k{key tile}_s{stages}: the dense tilings the host may launch
// (CudaBackend's WgmmaAttentionTiling mirrors them). Shared memory per block: 1 KB alignment slack +
// (64 * warpgroups + 2 * stages * key tile) * 256 bytes.
#define MINFERENCE_FLASH_WGMMA(NAME, GROUPS, KEYS, STAGES, PVMODE)                                                    \
    extern "C" __global__ void __launch_bounds__(GROUPS * 128, 1)                                                      \
        NAME(const bf16* q, const bf16* k, const bf16* v, bf16* o, long long q_rows, long long query_start, int hq,   \
             int hkv, float scale_log2)                                                                               \
    {                                                                                                                 \
        flash_attention_wgmma_d128<GROUPS, KEYS, STAGES, PVMODE>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2); \
    }

// Dense, 192 query rows (3 warpgroups) x 64 keys, 3 stages, lockstep: 145 KB shared, 150 registers, one
// block per SM; 427-437 TFLOP/s at 32K-128K on the H100 (mma.sync 256 x 64: 358-367), the fastest of the
// harness's variants (docs/PERFORMANCE.md, session 4).
MINFERENCE_FLASH_WGMMA(flash_attention_wgmma_d128_g3_k64_s3, 3, 64, 3, 0)

// A-shape, the same 192 x 64 x 3 lockstep shape on the sink + window tile walk.
MINFERENCE_ASHAPE_WGMMA(sparse_attention_ashape_wgmma_d128, sparse_attention_ashape_heads_wgmma_d128, 3, 64, 3, false)

// Block-sparse, one warpgroup per 64-row query block (the index's block), 64-key tiles, 2 stages, lockstep:
// same arguments and grid as sparse_attention_bs_d128 (x = head slot, y = query block in order).
extern "C" __global__ void __launch_bounds__(128, 1) sparse_attention_bs_wgmma_d128(
    const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv, float scale_log2,
    const int* block_offsets, const int* key_blocks, const long long* block_base, const int* heads)
{
    const int slot = blockIdx.x;
    const int head = heads != nullptr ? heads[slot] : slot;
    const long long per_head = (long long)slot * (gridDim.y + 1) + blockIdx.y;
    WgmmaBlockSparseWalk walk;
    walk.key_blocks = key_blocks + block_base[slot];
    walk.item = block_offsets[per_head];
    walk.item_stop = block_offsets[per_head + 1];
    walk.key_length = (long long)query_start + q_rows;
    wgmma_attention_walk<1, 64, 2, 0, false>(walk, (long long)blockIdx.y * 64, 0, head, q, k, v, o, q_rows, query_start,
                                            hq, hkv, scale_log2);
}
