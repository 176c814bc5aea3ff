// Standalone check-and-time harness for the wgmma attention kernels (kernels/cuda/flash_attention_wgmma.cu),
// built on the GPU machine by harness.sh in seconds, without the .NET suite. It compiles the kernel files it
// needs plus harness-only variants, checks every wgmma variant on small ragged shapes (chunk
// offsets, GQA 1-4, outputs poisoned with NaN) against the mma.sync kernel (all rows) and against the f32
// GPU reference (sampled rows), then times the variants against the mma.sync default tiling at 32K and
// 128K in the same process (CUDA events, median). Exit code 1 when any check fails.
// Only the kernels it runs (the whole fatbin unit takes minutes to compile for one arch).
#include "../../../kernels/cuda/elementwise.cu"
#include "../../../kernels/cuda/flash_attention_mma.cu"
#include "../../../kernels/cuda/flash_attention_wgmma.cu"
#include "../../../kernels/cuda/attention_reference.cu"
#include "../../../kernels/cuda/sparse_attention_mma.cu"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// Harness-only variants: the other two V addressings and other tile shapes.
// Run 1 (17:51 UTC): pv1 wrong (the MN-major descriptor's leading offset is the 64-dim block distance),
// pv0 = pv2; g3 k64 s3 fastest (426 TFLOP/s at 128K against 368 for mma.sync).
// Run 2 (17:54 UTC): S(t+1) overlapping softmax(t) with two score buffers was slower (410 TFLOP/s, g3):
// ptxas serialised the wgmma (C7515: O rescaled between the issue of S(t+1) and its wait). Now FA3's
// order: S(t+1) and P(t)·V(t) issued together, softmax(t+1) while P·V runs, O rescaled after.
MINFERENCE_FLASH_WGMMA_PIPELINED(harness_pipe_g2_k64_s3, 2, 64, 3, 0)
MINFERENCE_FLASH_WGMMA_PIPELINED(harness_pipe_g3_k64_s3, 3, 64, 3, 0)
MINFERENCE_FLASH_WGMMA_PIPELINED(harness_pipe_g3_k64_s4, 3, 64, 4, 0)
MINFERENCE_FLASH_WGMMA_PIPELINED(harness_pipe_g2_k128_s3, 2, 128, 3, 0)
// Run 3 (17:56 UTC): that order also got serialised (C7520: wgmma under warpgroup-uniform branches):
// 386-392 TFLOP/s (g3), below the lockstep kernel. The fatbin keeps the lockstep form.
MINFERENCE_ASHAPE_WGMMA(harness_ashape_g2_k128_s3, harness_ashape_g2_k128_s3_heads, 2, 128, 3, true)

#define CHECK(call)                                                                                   \
    do                                                                                                \
    {                                                                                                 \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess)                                                                        \
        {                                                                                             \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));     \
            exit(2);                                                                                  \
        }                                                                                             \
    } while (0)

typedef void (*AttentionKernel)(const bf16*, const bf16*, const bf16*, bf16*, long long, long long, int, int, float);

struct Variant
{
    const char* name;
    AttentionKernel kernel;
    int threads;
    int rows;
    int shared;
};

static Variant wgmma_variant(const char* name, AttentionKernel kernel, int groups, int keys, int stages)
{
    return {name, kernel, groups * 128, groups * 64, 1024 + (64 * groups + 2 * stages * keys) * 256};
}

__global__ void poison_bf16(bf16* p, long long n)
{
    FOR_EACH_ELEMENT(i, n) p[i] = __ushort_as_bfloat16((unsigned short)0x7FC0);
}

// stats: [0] sum (a-b)^2, [1] sum b^2, [2] max |a-b| (as int bits), [3] non-finite count in a.
__global__ void compare_bf16(const bf16* a, const bf16* b, long long n, float* stats)
{
    float d2 = 0, b2 = 0, mx = 0, bad = 0;
    FOR_EACH_ELEMENT(i, n)
    {
        float x = __bfloat162float(a[i]), y = __bfloat162float(b[i]);
        if (!isfinite(x)) { bad += 1; continue; }
        d2 += (x - y) * (x - y);
        b2 += y * y;
        mx = fmaxf(mx, fabsf(x - y));
    }
    d2 = warp_sum(d2); b2 = warp_sum(b2); bad = warp_sum(bad); mx = warp_max(mx);
    if ((threadIdx.x & 31) == 0)
    {
        atomicAdd(&stats[0], d2);
        atomicAdd(&stats[1], b2);
        atomicMax(reinterpret_cast<int*>(&stats[2]), __float_as_int(mx));
        atomicAdd(&stats[3], bad);
    }
}

// Sampled rows of o against the f32 reference's rows: max |o - ref| and non-finite count.
__global__ void compare_rows(const bf16* o, const float* ref, const long long* rows, int count, int hq, float* stats)
{
    for (long long i = blockIdx.x * blockDim.x + threadIdx.x; i < (long long)count * hq * 128; i += gridDim.x * blockDim.x)
    {
        long long r = i / (hq * 128), rest = i % (hq * 128);
        float x = __bfloat162float(o[rows[r] * hq * 128 + rest]);
        if (!isfinite(x)) atomicAdd(&stats[1], 1.0f);
        else atomicMax(reinterpret_cast<int*>(&stats[0]), __float_as_int(fabsf(x - ref[i])));
    }
}

static void launch(const Variant& v, const bf16* q, const bf16* k, const bf16* vv, bf16* o, long long n, long long qs, int hq, int hkv, float scale_log2)
{
    dim3 grid(hq, (unsigned)((n + v.rows - 1) / v.rows));
    v.kernel<<<grid, v.threads, v.shared>>>(q, k, vv, o, n, qs, hq, hkv, scale_log2);
}

int main(int argc, char** argv)
{
    bool time_only = argc > 1 && strcmp(argv[1], "--time-only") == 0;
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    printf("GPU %s, cc %d.%d, %d SMs\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);

    Variant mma = {"mma.sync 256x64 (default)", flash_attention_mma_d128_w8_r2_k64_s2, 256, 256, (256 + 2 * 2 * 64) * 136 * 2};
    std::vector<Variant> variants = {
        wgmma_variant("lockstep g3 k64 s3", flash_attention_wgmma_d128_g3_k64_s3, 3, 64, 3),
        wgmma_variant("pipelined g2 k64 s3", harness_pipe_g2_k64_s3, 2, 64, 3),
        wgmma_variant("pipelined g3 k64 s3", harness_pipe_g3_k64_s3, 3, 64, 3),
        wgmma_variant("pipelined g3 k64 s4", harness_pipe_g3_k64_s4, 3, 64, 4),
        wgmma_variant("pipelined g2 k128 s3", harness_pipe_g2_k128_s3, 2, 128, 3),
    };
    CHECK(cudaFuncSetAttribute(mma.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, mma.shared));
    for (auto& v : variants) CHECK(cudaFuncSetAttribute(v.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, v.shared));

    const float scale = 1.0f / sqrtf(128.0f);
    const float scale_log2 = scale * 1.4426950408889634f;
    std::vector<bool> correct(variants.size(), true);
    float* stats;
    CHECK(cudaMalloc(&stats, 4 * sizeof(float)));

    struct Case { long long n, qs; int hq, hkv; };
    std::vector<Case> cases = {{1, 0, 4, 2}, {77, 0, 4, 4}, {300, 0, 8, 2}, {200, 333, 4, 1}, {1000, 517, 8, 2}, {4096, 0, 4, 1}, {2500, 3000, 8, 2}};
    int failures = 0;
    unsigned long long seed = 0x5eed2026ull;
    for (const Case& c : cases)
    {
        if (time_only) break;
        long long kv = c.qs + c.n;
        long long qn = c.n * c.hq * 128, kn = kv * c.hkv * 128;
        bf16 *q, *k, *v, *o_mma, *o;
        CHECK(cudaMalloc(&q, qn * 2)); CHECK(cudaMalloc(&k, kn * 2)); CHECK(cudaMalloc(&v, kn * 2));
        CHECK(cudaMalloc(&o_mma, qn * 2)); CHECK(cudaMalloc(&o, qn * 2));
        fill_random_bf16<<<256, 256>>>(q, qn, seed++);
        fill_random_bf16<<<256, 256>>>(k, kn, seed++);
        fill_random_bf16<<<256, 256>>>(v, kn, seed++);
        poison_bf16<<<256, 256>>>(o_mma, qn);
        launch(mma, q, k, v, o_mma, c.n, c.qs, c.hq, c.hkv, scale_log2);
        CHECK(cudaGetLastError());

        std::vector<long long> rows = {0, c.n / 2, c.n - 1, c.n / 3, (c.n * 7) / 8};
        for (auto& r : rows) r = std::min(std::max(r, 0ll), c.n - 1);
        long long* d_rows;
        float* ref;
        CHECK(cudaMalloc(&d_rows, rows.size() * 8));
        CHECK(cudaMemcpy(d_rows, rows.data(), rows.size() * 8, cudaMemcpyHostToDevice));
        CHECK(cudaMalloc(&ref, rows.size() * c.hq * 128 * 4));
        attention_reference_d128<<<dim3((unsigned)rows.size(), c.hq), ReferenceThreads>>>(q, k, v, ref, d_rows, c.qs, c.hq, c.hkv, scale);
        CHECK(cudaGetLastError());

        auto check = [&](const char* name, const bf16* out, const bf16* against, bool full) {
            float h[4] = {0, 0, 0, 0};
            bool ok = true;
            if (full)
            {
                CHECK(cudaMemset(stats, 0, 16));
                compare_bf16<<<256, 256>>>(out, against, qn, stats);
                CHECK(cudaMemcpy(h, stats, 16, cudaMemcpyDeviceToHost));
                float rel = sqrtf(h[0] / std::max(h[1], 1e-30f));
                ok = h[3] == 0 && rel < 1e-2f && h[2] < 3e-2f;
                printf("  %-26s vs mma: rel L2 %.2e, max abs %.2e, non-finite %.0f", name, rel, h[2], h[3]);
            }
            CHECK(cudaMemset(stats, 0, 16));
            compare_rows<<<64, 256>>>(out, ref, d_rows, (int)rows.size(), c.hq, stats);
            CHECK(cudaMemcpy(h, stats, 8, cudaMemcpyDeviceToHost));
            bool ok_ref = h[1] == 0 && h[0] < 3e-2f;
            printf("%s vs f32 ref (%zu rows): max abs %.2e, non-finite %.0f %s\n", full ? ";" : "  ", rows.size(), h[0], h[1], ok && ok_ref ? "ok" : "FAIL");
            return ok && ok_ref;
        };
        printf("case n %lld, query_start %lld, heads %d/%d\n", c.n, c.qs, c.hq, c.hkv);
        if (!check(mma.name, o_mma, nullptr, false)) failures++;
        for (size_t i = 0; i < variants.size(); i++)
        {
            poison_bf16<<<256, 256>>>(o, qn);
            launch(variants[i], q, k, v, o, c.n, c.qs, c.hq, c.hkv, scale_log2);
            cudaError_t e = cudaDeviceSynchronize();
            if (e != cudaSuccess)
            {
                printf("  %s: launch failed: %s\n", variants[i].name, cudaGetErrorString(e));
                return 3;
            }
            if (!check(variants[i].name, o, o_mma, true)) correct[i] = false;
        }
        cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(o_mma); cudaFree(o); cudaFree(d_rows); cudaFree(ref);
    }

    printf("\n== timing: 32 query heads, 8 KV heads, d 128, causal, whole prompt (FLOPs 4 d h N(N+1)/2)\n");
    std::vector<std::string> table;
    for (long long n : {32768ll, 131072ll})
    {
        const int hq = 32, hkv = 8;
        long long qn = n * hq * 128, kn = n * hkv * 128;
        bf16 *q, *k, *v, *o_mma, *o;
        CHECK(cudaMalloc(&q, qn * 2)); CHECK(cudaMalloc(&k, kn * 2)); CHECK(cudaMalloc(&v, kn * 2));
        CHECK(cudaMalloc(&o_mma, qn * 2)); CHECK(cudaMalloc(&o, qn * 2));
        fill_random_bf16<<<1024, 256>>>(q, qn, seed++);
        fill_random_bf16<<<1024, 256>>>(k, kn, seed++);
        fill_random_bf16<<<1024, 256>>>(v, kn, seed++);
        const double flops = 4.0 * 128 * hq * (double)n * (n + 1) / 2;
        const int repeats = n > 65536 ? 3 : 5;
        cudaEvent_t a, b;
        CHECK(cudaEventCreate(&a)); CHECK(cudaEventCreate(&b));
        auto time = [&](const Variant& var, bf16* out) {
            launch(var, q, k, v, out, n, 0, hq, hkv, scale_log2);
            CHECK(cudaDeviceSynchronize());
            std::vector<float> ms;
            for (int r = 0; r < repeats; r++)
            {
                CHECK(cudaEventRecord(a));
                launch(var, q, k, v, out, n, 0, hq, hkv, scale_log2);
                CHECK(cudaEventRecord(b));
                CHECK(cudaEventSynchronize(b));
                float t;
                CHECK(cudaEventElapsedTime(&t, a, b));
                ms.push_back(t);
            }
            CHECK(cudaGetLastError());
            std::sort(ms.begin(), ms.end());
            float med = ms[ms.size() / 2];
            char line[256];
            snprintf(line, sizeof line, "%-26s %7lldK  median %9.2f ms (min %9.2f)  %6.1f TFLOP/s", var.name, n / 1024, med, ms.front(), flops / (med * 1e-3) / 1e12);
            printf("%s\n", line);
            table.push_back(line);
        };
        time(mma, o_mma);
        for (size_t i = 0; i < variants.size(); i++)
        {
            if (!correct[i]) continue;
            time(variants[i], o);
            // Same inputs, whole output: the long-length agreement with the mma.sync kernel.
            CHECK(cudaMemset(stats, 0, 16));
            compare_bf16<<<1024, 256>>>(o, o_mma, qn, stats);
            float h[4];
            CHECK(cudaMemcpy(h, stats, 16, cudaMemcpyDeviceToHost));
            printf("    vs mma at %lldK: rel L2 %.2e, max abs %.2e, non-finite %.0f\n", n / 1024, sqrtf(h[0] / h[1]), h[2], h[3]);
            if (h[3] != 0 || sqrtf(h[0] / h[1]) > 1e-2f) failures++;
        }
        cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(o_mma); cudaFree(o);
    }
    // A-shape: the wgmma pipelined kernel against sparse_attention_ashape_d128 (mma.sync, 256-row blocks).
    typedef void (*AShapeKernel)(const bf16*, const bf16*, const bf16*, bf16*, int, int, int, int, float, int, int);
    struct AShapeVariant { const char* name; AShapeKernel kernel; int threads, rows, shared; };
    std::vector<AShapeVariant> ashape = {
        {"ashape mma.sync 256 rows", sparse_attention_ashape_d128, 256, 256, (256 + 2 * 2 * 64) * 136 * 2},
        {"ashape wgmma g2 k128 s3", harness_ashape_g2_k128_s3, 256, 128, 1024 + (128 + 2 * 3 * 128) * 256},
        {"ashape wgmma g3 k64 s3 lockstep", sparse_attention_ashape_wgmma_d128, 384, 192, 1024 + (192 + 2 * 3 * 64) * 256},
    };
    for (auto& a : ashape) CHECK(cudaFuncSetAttribute(a.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, a.shared));
    auto run_ashape = [&](const AShapeVariant& a, const bf16* q, const bf16* k, const bf16* v, bf16* o, long long n, long long qs, int hq, int hkv, int init, int local) {
        dim3 grid(hq, (unsigned)((n + a.rows - 1) / a.rows));
        a.kernel<<<grid, a.threads, a.shared>>>(q, k, v, o, (int)n, (int)qs, hq, hkv, scale_log2, init, local);
    };
    struct ACase { long long n, qs; int hq, hkv, init, local; };
    std::vector<ACase> acases = {{77, 0, 4, 2, 16, 32}, {1000, 517, 8, 2, 100, 300}, {3000, 0, 4, 1, 0, 200}, {2500, 3000, 8, 2, 64, 1000}, {5000, 0, 4, 4, 1024, 4096}};
    for (const ACase& c : acases)
    {
        if (time_only) break;
        long long kv = c.qs + c.n, qn = c.n * c.hq * 128, kn = kv * c.hkv * 128;
        bf16 *q, *k, *v, *o_ref, *o;
        CHECK(cudaMalloc(&q, qn * 2)); CHECK(cudaMalloc(&k, kn * 2)); CHECK(cudaMalloc(&v, kn * 2));
        CHECK(cudaMalloc(&o_ref, qn * 2)); CHECK(cudaMalloc(&o, qn * 2));
        fill_random_bf16<<<256, 256>>>(q, qn, seed++);
        fill_random_bf16<<<256, 256>>>(k, kn, seed++);
        fill_random_bf16<<<256, 256>>>(v, kn, seed++);
        poison_bf16<<<256, 256>>>(o_ref, qn);
        run_ashape(ashape[0], q, k, v, o_ref, c.n, c.qs, c.hq, c.hkv, c.init, c.local);
        CHECK(cudaDeviceSynchronize());
        printf("ashape case n %lld, query_start %lld, heads %d/%d, init %d, local %d\n", c.n, c.qs, c.hq, c.hkv, c.init, c.local);
        for (size_t i = 1; i < ashape.size(); i++)
        {
            poison_bf16<<<256, 256>>>(o, qn);
            run_ashape(ashape[i], q, k, v, o, c.n, c.qs, c.hq, c.hkv, c.init, c.local);
            CHECK(cudaDeviceSynchronize());
            float h[4];
            CHECK(cudaMemset(stats, 0, 16));
            compare_bf16<<<256, 256>>>(o, o_ref, qn, stats);
            CHECK(cudaMemcpy(h, stats, 16, cudaMemcpyDeviceToHost));
            float rel = sqrtf(h[0] / h[1]);
            bool ok = h[3] == 0 && rel < 1e-2f && h[2] < 3e-2f;
            printf("  %-26s vs mma.sync: rel L2 %.2e, max abs %.2e, non-finite %.0f %s\n", ashape[i].name, rel, h[2], h[3], ok ? "ok" : "FAIL");
            if (!ok) failures++;
        }
        cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(o_ref); cudaFree(o);
    }
    printf("\n== A-shape timing (init 1024, local 4096), 32/8 heads, d 128; FLOPs = 4 d h * visible pairs\n");
    for (long long n : {131072ll, 1048576ll})
    {
        const int hq = 32, hkv = 8, init = 1024, local = 4096;
        long long qn = n * hq * 128, kn = n * hkv * 128;
        bf16 *q, *k, *v, *o;
        CHECK(cudaMalloc(&q, qn * 2)); CHECK(cudaMalloc(&k, kn * 2)); CHECK(cudaMalloc(&v, kn * 2)); CHECK(cudaMalloc(&o, qn * 2));
        fill_random_bf16<<<1024, 256>>>(q, qn, seed++);
        fill_random_bf16<<<1024, 256>>>(k, kn, seed++);
        fill_random_bf16<<<1024, 256>>>(v, kn, seed++);
        double pairs = 0;
        for (long long i = 0; i < n; i++) pairs += std::min(i + 1, (long long)local) + std::min((long long)init, std::max(0ll, i + 1 - local));
        const double flops = 4.0 * 128 * hq * pairs;
        cudaEvent_t a, b;
        CHECK(cudaEventCreate(&a)); CHECK(cudaEventCreate(&b));
        for (auto& av : ashape)
        {
            run_ashape(av, q, k, v, o, n, 0, hq, hkv, init, local);
            CHECK(cudaDeviceSynchronize());
            std::vector<float> ms;
            for (int r = 0; r < 3; r++)
            {
                CHECK(cudaEventRecord(a));
                run_ashape(av, q, k, v, o, n, 0, hq, hkv, init, local);
                CHECK(cudaEventRecord(b));
                CHECK(cudaEventSynchronize(b));
                float t;
                CHECK(cudaEventElapsedTime(&t, a, b));
                ms.push_back(t);
            }
            CHECK(cudaGetLastError());
            std::sort(ms.begin(), ms.end());
            char line[256];
            snprintf(line, sizeof line, "%-26s %7lldK  median %9.2f ms (min %9.2f)  %6.1f TFLOP/s", av.name, n / 1024, ms[1], ms[0], flops / (ms[1] * 1e-3) / 1e12);
            printf("%s\n", line);
            table.push_back(line);
        }
        cudaFree(q); cudaFree(k); cudaFree(v); cudaFree(o);
    }

    printf("\n== summary\n");
    for (size_t i = 0; i < variants.size(); i++) printf("%-26s %s\n", variants[i].name, correct[i] ? "correct" : "WRONG");
    for (auto& l : table) printf("%s\n", l.c_str());
    printf("failures: %d\n", failures + (int)std::count(correct.begin(), correct.end(), false));
    return failures == 0 ? 0 : 1;
}
