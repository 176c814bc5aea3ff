"""Times torch's SDPA flash and cuDNN backends on the dense layer shape our kernels are measured at
(32 query heads, 8 KV heads, d 128, bf16, causal), on the same GPU in the same run, so PERFORMANCE.md
compares ratios measured together. CUDA events, one warm-up, median of the repeats, random inputs.
K/V are expanded to 32 heads (torch's backends differ in GQA support; expansion is outside the timing).
Usage: python3 torch_sdpa_bench.py OUT.jsonl 32768 131072
"""
import json
import sys
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

QUERY_HEADS, KV_HEADS, HEAD_DIM = 32, 8, 128


def time_backend(backend, q, k, v, repeats):
    with sdpa_kernel([backend]):
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        assert torch.isfinite(out[0, :, -1]).all(), "non-finite output"
    times.sort()
    return times[len(times) // 2], times[0]


def main():
    out_path = sys.argv[1]
    lengths = [int(n) for n in sys.argv[2:]]
    gpu = torch.cuda.get_device_name(0)
    generator = torch.Generator(device="cuda").manual_seed(1)
    with open(out_path, "a", encoding="utf-8") as out:
        for n in lengths:
            q = torch.rand(1, QUERY_HEADS, n, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=generator) * 2 - 1
            k = torch.rand(1, KV_HEADS, n, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=generator) * 2 - 1
            v = torch.rand(1, KV_HEADS, n, HEAD_DIM, device="cuda", dtype=torch.bfloat16, generator=generator) * 2 - 1
            group = QUERY_HEADS // KV_HEADS
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
            flops = 4.0 * HEAD_DIM * QUERY_HEADS * n * (n + 1) / 2
            for name, backend in (("torch flash", SDPBackend.FLASH_ATTENTION), ("torch cudnn", SDPBackend.CUDNN_ATTENTION)):
                try:
                    median, best = time_backend(backend, q, k, v, 3 if n <= 131072 else 1)
                    record = {"gpu": gpu, "kernel": name, "torch": torch.__version__, "tokens": n,
                              "median_ms": round(median, 3), "min_ms": round(best, 3),
                              "tflops": round(flops / (median * 1e-3) / 1e12, 1),
                              "date": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())}
                except Exception as e:  # a backend that can't run this shape is reported, not fatal
                    record = {"gpu": gpu, "kernel": name, "tokens": n, "error": str(e).splitlines()[0][:200]}
                line = json.dumps(record)
                print(line, flush=True)
                out.write(line + "\n")
            del q, k, v
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
