// Sparse flash attention forward on tensor cores: Vertical-Slash, Block-Sparse and A-shape.
//
// One block per (query head, query block), all heads of a layer in one launch: VS and Block-Sparse
// blocks are 64 rows (4 warps of 16 rows, the index's block); A-shape blocks 256 rows (8 warps of two
// 16-row tiles, the dense kernel's tiling, since its tiles follow from positions alone). The *_pairs
// kernels run VS / Block-Sparse for two query heads of one KV group that share an index: a block is
// the 64 positions of both heads (4 warps x two 16-row tiles, one per head), so each K/V tile feeds
// both heads' MMAs (1.4-1.6x the per-head kernels' rate on the H100, docs/PERFORMANCE.md). A block walks a sequence of 64-key tiles its pattern's index names; every tile runs one
// step of the same online softmax, so a row's result is softmax over the union of its tiles:
//   - contiguous tiles [first, first + count) with the causal mask key <= position (and, for the
//     A-shape window, key >= position - window + 1);
//   - gathered tiles: count key rows read through the index (Vertical-Slash columns, always before
//     the block's first position, so unmasked). Each thread issues cp.async for its rows from the
//     gathered key index.
// Every thread walks the index itself (uniform loads), so tile descriptors need no shared memory.
// K/V tiles go through a 2-stage cp.async pipeline with one barrier per tile. Q rows of a ragged
// last block are zero-filled and never written. Positions are int (SparseSpan bounds them below
// 2^31); element and index offsets are 64-bit.
#include "mma_primitives.cuh"

constexpr int SparseWarps = 4;
constexpr int SparseThreads = SparseWarps * 32;
constexpr int SparseQueryRows = SparseWarps * 16;
constexpr int SparseKeyTile = 64;
constexpr int SparsePad = 8;
constexpr int SparseStages = 2;
// A-shape blocks: 8 warps x two 16-row tiles (see sparse_attention_mma).
constexpr int AShapeWarps = 8;
constexpr int AShapeRowTiles = 2;
constexpr int AShapeThreads = AShapeWarps * 32;
constexpr int AShapeQueryRows = AShapeWarps * AShapeRowTiles * 16;

// Tile kinds.
constexpr int TileCausal = 0;
constexpr int TileGathered = 1;
constexpr int TileWindow = 2;

struct SparseTile
{
    int first;  // first key (contiguous) or position in the head's column list (gathered)
    int count;  // keys in the tile, 1..64; 0 = no more tiles
    int kind;
};

// Vertical-Slash: the block's ranges (split into 64-key tiles), then its columns 64 at a time.
struct VerticalSlashTiles
{
    const int* bounds;   // head's RangeBounds
    int range, range_stop, position, range_end;
    int column, column_stop;

    __device__ SparseTile next()
    {
        while (position >= range_end && range < range_stop)
        {
            position = bounds[2 * range];
            range_end = bounds[2 * range + 1];
            range++;
        }
        if (position < range_end)
        {
            SparseTile t{position, min(SparseKeyTile, range_end - position), TileCausal};
            position += SparseKeyTile;
            return t;
        }
        if (column < column_stop)
        {
            SparseTile t{column, min(SparseKeyTile, column_stop - column), TileGathered};
            column += SparseKeyTile;
            return t;
        }
        return SparseTile{0, 0, TileCausal};
    }
};

// Block-Sparse: one tile per chosen key block.
struct BlockSparseTiles
{
    const int* key_blocks;  // head's KeyBlocks
    int item, item_stop, key_length;

    __device__ SparseTile next()
    {
        if (item < item_stop)
        {
            const int start = key_blocks[item++] * SparseKeyTile;
            return SparseTile{start, min(SparseKeyTile, key_length - start), TileCausal};
        }
        return SparseTile{0, 0, TileCausal};
    }
};

// Warps x RowTiles 16-row tiles per block: VS and block-sparse use 4 x 1 (their index is per 64-row
// block); A-shape, whose tiles follow from the block's positions alone, uses 8 x 2 (256 rows, the dense
// kernel's best tiling: each K/V tile in shared memory feeds two mma per fragment load and 4x the rows).
// Unpacked, row tile mt of a warp holds positions warp_first + 16 mt .. + 15 of `head`. PackHeads (VS
// and block-sparse whose index two query heads of one KV group share): row tile mt is head `head + mt`
// at the warp's 16 positions, so a block is still one 64-row query block of the index while each K/V
// tile feeds RowTiles heads (the dense kernel's GQA-packed tiling).
template <int D, int Warps, int RowTiles, bool PackHeads, typename Tiles>
__device__ __forceinline__ void sparse_attention_mma(
    Tiles tiles, const int* __restrict__ columns, int window, int head,
    const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, bf16* __restrict__ o,
    int q_rows, int query_start, int hq, int hkv, float scale_log2)
{
    static_assert(D % 16 == 0, "head_dim must be a multiple of 16");
    constexpr int Threads = Warps * 32;
    constexpr int QueryRows = Warps * RowTiles * 16;
    constexpr int PositionRows = PackHeads ? Warps * 16 : QueryRows;  // positions a block spans
    constexpr int WarpPositions = PackHeads ? 16 : RowTiles * 16;
    constexpr int TilePositionStep = PackHeads ? 0 : 16;             // row tile mt's first position - warp's
    constexpr int TileSharedStep = PackHeads ? PositionRows : 16;    // row tile mt's first Q row in shared - warp's
    constexpr int Stride = D + SparsePad;
    constexpr int KSteps = D / 16;
    constexpr int ScoreTiles = SparseKeyTile / 8;
    constexpr int OutTiles = D / 8;
    constexpr int Chunks = D / 8;

    extern __shared__ __align__(16) unsigned char shared_raw[];
    bf16* sQ = reinterpret_cast<bf16*>(shared_raw);
    bf16* sK = sQ + QueryRows * Stride;
    bf16* sV = sK + SparseStages * SparseKeyTile * Stride;

    const int kv_head = head / (hq / hkv);
    const int row0 = blockIdx.y * PositionRows;
    const int warp = threadIdx.x >> 5;
    const int lane = threadIdx.x & 31;
    const int group = lane >> 2;
    const int quad = lane & 3;
    const int matrix = lane >> 3;
    const int matrix_row = lane & 7;

    const long long q_stride = (long long)hq * D;
    const long long kv_stride = (long long)hkv * D;
    const bf16* k_head = k + (long long)kv_head * D;
    const bf16* v_head = v + (long long)kv_head * D;

    for (int idx = threadIdx.x; idx < QueryRows * Chunks; idx += Threads)
    {
        int r = idx / Chunks;
        int c = (idx - r * Chunks) * 8;
        // Packed: shared row r holds head head + r / PositionRows at position r % PositionRows.
        const int position = PackHeads ? r % PositionRows : r;
        const int row_head = PackHeads ? head + r / PositionRows : head;
        bool valid = row0 + position < q_rows;
        const bf16* src = valid ? q + (long long)(row0 + position) * q_stride + (long long)row_head * D + c : q;
        cp_async_16(shared_address(sQ + r * Stride + c), src, valid);
    }

    auto load_tile = [&](const SparseTile& tile, int stage) {
        bf16* dk = sK + stage * SparseKeyTile * Stride;
        bf16* dv = sV + stage * SparseKeyTile * Stride;
        for (int idx = threadIdx.x; idx < SparseKeyTile * Chunks; idx += Threads)
        {
            int r = idx / Chunks;
            int c = (idx - r * Chunks) * 8;
            bool valid = r < tile.count;
            long long key = 0;
            if (valid) key = tile.kind == TileGathered ? __ldg(columns + tile.first + r) : tile.first + r;
            long long offset = key * kv_stride + c;
            cp_async_16(shared_address(dk + r * Stride + c), k_head + offset, valid);
            cp_async_16(shared_address(dv + r * Stride + c), v_head + offset, valid);
        }
    };

    SparseTile pending = tiles.next();
    if (pending.count > 0) load_tile(pending, 0);
    cp_async_commit();

    float out[RowTiles][OutTiles][4];
    float row_max[RowTiles][2];
    float row_sum[RowTiles][2];
#pragma unroll
    for (int mt = 0; mt < RowTiles; mt++)
    {
#pragma unroll
        for (int t = 0; t < OutTiles; t++) out[mt][t][0] = out[mt][t][1] = out[mt][t][2] = out[mt][t][3] = 0.0f;
        row_max[mt][0] = row_max[mt][1] = -INFINITY;
        row_sum[mt][0] = row_sum[mt][1] = 0.0f;
    }

    const int warp_first = query_start + row0 + warp * WarpPositions;
    const int warp_last = warp_first + WarpPositions - 1;
    const bf16* warp_q = sQ + warp * WarpPositions * Stride;
    int stage = 0;

    while (pending.count > 0)
    {
        const SparseTile tile = pending;
        pending = tiles.next();
        cp_async_wait<0>();
        __syncthreads();
        // Every warp is past the barrier, so done with the previous tile, whose stage is refilled now.
        if (pending.count > 0) load_tile(pending, stage ^ 1);
        cp_async_commit();

        const bool contiguous = tile.kind != TileGathered;
        const int tile_last = tile.first + tile.count - 1;
        // Warps whose rows all precede the tile (or, in the window, all lie past it) skip it.
        const bool visible = !contiguous || (tile.first <= warp_last && (tile.kind != TileWindow || tile_last >= warp_first - window + 1));
        if (visible)
        {
            const bf16* tk = sK + stage * SparseKeyTile * Stride;
            const bf16* tv = sV + stage * SparseKeyTile * Stride;

            float s[RowTiles][ScoreTiles][4];
#pragma unroll
            for (int mt = 0; mt < RowTiles; mt++)
            {
#pragma unroll
                for (int t = 0; t < ScoreTiles; t++) s[mt][t][0] = s[mt][t][1] = s[mt][t][2] = s[mt][t][3] = 0.0f;
            }
#pragma unroll
            for (int ks = 0; ks < KSteps; ks++)
            {
                uint32_t qf[RowTiles][4];
#pragma unroll
                for (int mt = 0; mt < RowTiles; mt++)
                {
                    const bf16* pq = warp_q + (mt * TileSharedStep + (matrix & 1) * 8 + matrix_row) * Stride + ks * 16 + (matrix >> 1) * 8;
                    ldmatrix_x4(qf[mt][0], qf[mt][1], qf[mt][2], qf[mt][3], shared_address(pq));
                }
#pragma unroll
                for (int np = 0; np < ScoreTiles / 2; np++)
                {
                    uint32_t b0, b1, b2, b3;
                    const bf16* p = tk + (np * 16 + (matrix >> 1) * 8 + matrix_row) * Stride + ks * 16 + (matrix & 1) * 8;
                    ldmatrix_x4(b0, b1, b2, b3, shared_address(p));
#pragma unroll
                    for (int mt = 0; mt < RowTiles; mt++)
                    {
                        mma_bf16_16816(s[mt][2 * np], qf[mt], b0, b1);
                        mma_bf16_16816(s[mt][2 * np + 1], qf[mt], b2, b3);
                    }
                }
            }

#pragma unroll
            for (int mt = 0; mt < RowTiles; mt++)
            {
                // Mask keys past the tile's count, after the row (causal) or before its window.
                // Row-tile-uniform tests: most range and window tiles lie wholly inside every row's keys.
                const int tile_first_row = warp_first + mt * TilePositionStep;
                const bool causal_cut = contiguous && tile_last > tile_first_row;
                const bool window_cut = tile.kind == TileWindow && tile.first <= tile_first_row + 15 - window;
                if (tile.count < SparseKeyTile || causal_cut || window_cut)
                {
#pragma unroll
                    for (int t = 0; t < ScoreTiles; t++)
                    {
#pragma unroll
                        for (int e = 0; e < 4; e++)
                        {
                            const int j = t * 8 + quad * 2 + (e & 1);
                            const int position = tile_first_row + group + (e >> 1) * 8;
                            const int key = tile.first + j;
                            bool masked = j >= tile.count;
                            if (contiguous) masked = masked || key > position;
                            if (tile.kind == TileWindow) masked = masked || key <= position - window;
                            if (masked) s[mt][t][e] = -INFINITY;
                        }
                    }
                }

                float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
                for (int t = 0; t < ScoreTiles; t++)
                {
                    tile_max[0] = fmaxf(tile_max[0], fmaxf(s[mt][t][0], s[mt][t][1]));
                    tile_max[1] = fmaxf(tile_max[1], fmaxf(s[mt][t][2], s[mt][t][3]));
                }
                float alpha[2];
                float scaled_max[2];
#pragma unroll
                for (int h = 0; h < 2; h++)
                {
                    float mx = tile_max[h];
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
                    const float m_new = fmaxf(row_max[mt][h], mx);
                    // A row may have seen no key yet (its first tiles all masked): keep its state at
                    // zero instead of exp2(-inf - -inf) = NaN.
                    const float m_use = m_new == -INFINITY ? 0.0f : m_new;
                    alpha[h] = fast_exp2((row_max[mt][h] - m_use) * scale_log2);
                    row_max[mt][h] = m_new;
                    scaled_max[h] = m_use * scale_log2;
                }
                float tile_sum[2] = {0.0f, 0.0f};
#pragma unroll
                for (int t = 0; t < ScoreTiles; t++)
                {
#pragma unroll
                    for (int e = 0; e < 4; e++)
                    {
                        s[mt][t][e] = fast_exp2(fmaf(s[mt][t][e], scale_log2, -scaled_max[e >> 1]));
                        tile_sum[e >> 1] += s[mt][t][e];
                    }
                }
                row_sum[mt][0] = row_sum[mt][0] * alpha[0] + tile_sum[0];
                row_sum[mt][1] = row_sum[mt][1] * alpha[1] + tile_sum[1];
                if (__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f))
                {
#pragma unroll
                    for (int t = 0; t < OutTiles; t++)
                    {
                        out[mt][t][0] *= alpha[0];
                        out[mt][t][1] *= alpha[0];
                        out[mt][t][2] *= alpha[1];
                        out[mt][t][3] *= alpha[1];
                    }
                }
            }

#pragma unroll
            for (int kk = 0; kk < SparseKeyTile / 16; kk++)
            {
                uint32_t pa[RowTiles][4];
#pragma unroll
                for (int mt = 0; mt < RowTiles; mt++)
                {
                    pa[mt][0] = pack_bf16x2(s[mt][2 * kk][0], s[mt][2 * kk][1]);
                    pa[mt][1] = pack_bf16x2(s[mt][2 * kk][2], s[mt][2 * kk][3]);
                    pa[mt][2] = pack_bf16x2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
                    pa[mt][3] = pack_bf16x2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
                }
#pragma unroll
                for (int op = 0; op < OutTiles / 2; op++)
                {
                    uint32_t b0, b1, b2, b3;
                    const bf16* p = tv + (kk * 16 + (matrix & 1) * 8 + matrix_row) * Stride + op * 16 + (matrix >> 1) * 8;
                    ldmatrix_x4_trans(b0, b1, b2, b3, shared_address(p));
#pragma unroll
                    for (int mt = 0; mt < RowTiles; mt++)
                    {
                        mma_bf16_16816(out[mt][2 * op], pa[mt], b0, b1);
                        mma_bf16_16816(out[mt][2 * op + 1], pa[mt], b2, b3);
                    }
                }
            }
        }
        stage ^= 1;
    }
    cp_async_wait<0>();

#pragma unroll
    for (int mt = 0; mt < RowTiles; mt++)
    {
#pragma unroll
        for (int h = 0; h < 2; h++)
        {
            float total = row_sum[mt][h];
            total += __shfl_xor_sync(0xffffffffu, total, 1);
            total += __shfl_xor_sync(0xffffffffu, total, 2);
            const int row = row0 + warp * WarpPositions + mt * TilePositionStep + group + h * 8;
            if (row < q_rows)
            {
                // A row that saw no key (impossible for a valid index) gets zeros, like the CPU reference.
                const float inv = total > 0.0f ? 1.0f / total : 0.0f;
                const int row_head = PackHeads ? head + mt : head;
                bf16* dst = o + (long long)row * q_stride + (long long)row_head * D + quad * 2;
#pragma unroll
                for (int t = 0; t < OutTiles; t++)
                {
                    *reinterpret_cast<__nv_bfloat162*>(dst + t * 8) = __floats2bfloat162_rn(out[mt][t][2 * h] * inv, out[mt][t][2 * h + 1] * inv);
                }
            }
        }
    }
}

// Index buffers hold every query head's arrays back to back: head h's per-block offsets are
// block_offsets[h * (gridDim.y + 1) ...] (values relative to its own arrays), and its ranges,
// columns or key blocks start at the 64-bit element base[h].
template <int D, bool PackHeads>
__device__ __forceinline__ void vertical_slash_entry(
    const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv, float scale_log2,
    const int* range_offsets, const int* range_bounds, const long long* range_base,
    const int* column_offsets, const int* columns, const long long* column_base, const int* heads)
{
    const int slot = blockIdx.x;
    const int head = heads != nullptr ? heads[slot] : slot;
    const long long per_head = (long long)slot * (gridDim.y + 1) + blockIdx.y;
    VerticalSlashTiles tiles;
    tiles.bounds = range_bounds + 2 * range_base[slot];
    tiles.range = range_offsets[per_head];
    tiles.range_stop = range_offsets[per_head + 1];
    tiles.position = 0;
    tiles.range_end = 0;
    tiles.column = column_offsets[per_head];
    tiles.column_stop = column_offsets[per_head + 1];
    sparse_attention_mma<D, SparseWarps, PackHeads ? 2 : 1, PackHeads>(tiles, columns + column_base[slot], 0, head, q, k, v, o, q_rows, query_start, hq, hkv, scale_log2);
}

template <int D, bool PackHeads>
__device__ __forceinline__ void block_sparse_entry(
    const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv, float scale_log2,
    const int* block_offsets, const int* key_blocks, const long long* block_base, const int* heads)
{
    const int slot = blockIdx.x;
    const int head = heads != nullptr ? heads[slot] : slot;
    const long long per_head = (long long)slot * (gridDim.y + 1) + blockIdx.y;
    BlockSparseTiles tiles;
    tiles.key_blocks = key_blocks + block_base[slot];
    tiles.item = block_offsets[per_head];
    tiles.item_stop = block_offsets[per_head + 1];
    tiles.key_length = query_start + q_rows;
    sparse_attention_mma<D, SparseWarps, PackHeads ? 2 : 1, PackHeads>(tiles, nullptr, 0, head, q, k, v, o, q_rows, query_start, hq, hkv, scale_log2);
}

// A-shape: the sink keys [0, min(init, last + 1)) as causal tiles, then the window keys from
// max(init, first - local + 1) to last as window tiles; the window starts past the sink, so no key
// counts twice.
struct AShapeAllTiles
{
    int position, sink_end, window_start, window_end;

    __device__ SparseTile next()
    {
        if (position < sink_end)
        {
            SparseTile t{position, min(SparseKeyTile, sink_end - position), TileCausal};
            position += SparseKeyTile;
            if (position >= sink_end) position = window_start;
            return t;
        }
        if (position < window_start) position = window_start;
        if (position < window_end)
        {
            SparseTile t{position, min(SparseKeyTile, window_end - position), TileWindow};
            position += SparseKeyTile;
            return t;
        }
        return SparseTile{0, 0, TileCausal};
    }
};

template <int D>
__device__ __forceinline__ void a_shape_entry(
    const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv, float scale_log2,
    int init_keys, int local_keys, int head)
{
    const int first = query_start + (int)blockIdx.y * AShapeQueryRows;
    const int last = query_start + min((int)(blockIdx.y + 1) * AShapeQueryRows, q_rows) - 1;
    AShapeAllTiles tiles;
    tiles.sink_end = min(init_keys, last + 1);
    tiles.window_start = max(init_keys, first - local_keys + 1);
    tiles.window_end = last + 1;
    tiles.position = tiles.sink_end > 0 ? 0 : tiles.window_start;
    sparse_attention_mma<D, AShapeWarps, AShapeRowTiles, false>(tiles, nullptr, local_keys, head, q, k, v, o, q_rows, query_start, hq, hkv, scale_log2);
}

#define SPARSE_KERNELS(D)                                                                                                                   \
    extern "C" __global__ void __launch_bounds__(SparseThreads) sparse_attention_vs_d##D(                                                  \
        const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv, float scale_log2,               \
        const int* range_offsets, const int* range_bounds, const long long* range_base,                                                    \
        const int* column_offsets, const int* columns, const long long* column_base, const int* heads)                                     \
    {                                                                                                                                       \
        vertical_slash_entry<D, false>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2, range_offsets, range_bounds, range_base,      \
                                       column_offsets, columns, column_base, heads);                                                        \
    }                                                                                                                                       \
    extern "C" __global__ void __launch_bounds__(SparseThreads) sparse_attention_bs_d##D(                                                  \
        const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv, float scale_log2,               \
        const int* block_offsets, const int* key_blocks, const long long* block_base, const int* heads)                                    \
    {                                                                                                                                       \
        block_sparse_entry<D, false>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2, block_offsets, key_blocks, block_base, heads);  \
    }                                                                                                                                       \
    /* Head pairs: slot s's index serves query heads heads[s] and heads[s] + 1 (one KV group). */                                          \
    extern "C" __global__ void __launch_bounds__(SparseThreads) sparse_attention_vs_pairs_d##D(                                            \
        const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv, float scale_log2,               \
        const int* range_offsets, const int* range_bounds, const long long* range_base,                                                    \
        const int* column_offsets, const int* columns, const long long* column_base, const int* heads)                                     \
    {                                                                                                                                       \
        vertical_slash_entry<D, true>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2, range_offsets, range_bounds, range_base,       \
                                      column_offsets, columns, column_base, heads);                                                         \
    }                                                                                                                                       \
    extern "C" __global__ void __launch_bounds__(SparseThreads) sparse_attention_bs_pairs_d##D(                                            \
        const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv, float scale_log2,               \
        const int* block_offsets, const int* key_blocks, const long long* block_base, const int* heads)                                    \
    {                                                                                                                                       \
        block_sparse_entry<D, true>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2, block_offsets, key_blocks, block_base, heads);   \
    }                                                                                                                                       \
    extern "C" __global__ void __launch_bounds__(AShapeThreads, 1) sparse_attention_ashape_d##D(                                              \
        const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv, float scale_log2,               \
        int init_keys, int local_keys)                                                                                                      \
    {                                                                                                                                       \
        a_shape_entry<D>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2, init_keys, local_keys, blockIdx.x);                        \
    }                                                                                                                                       \
    /* A-shape over listed heads, each with its own sink and window (slot -> heads[slot]). */                                              \
    extern "C" __global__ void __launch_bounds__(AShapeThreads, 1) sparse_attention_ashape_heads_d##D(                                        \
        const bf16* q, const bf16* k, const bf16* v, bf16* o, int q_rows, int query_start, int hq, int hkv, float scale_log2,               \
        const int* heads, const int* init_keys, const int* local_keys)                                                                     \
    {                                                                                                                                       \
        const int slot = blockIdx.x;                                                                                                        \
        a_shape_entry<D>(q, k, v, o, q_rows, query_start, hq, hkv, scale_log2, init_keys[slot], local_keys[slot], heads[slot]);            \
    }

SPARSE_KERNELS(64)
SPARSE_KERNELS(128)
