#!/usr/bin/env python3
"""PyTorch SDPA baseline for `minference bench attention --torch`.

One causal attention layer of the Llama-3-8B shape (32 query heads, 8 KV heads, d 128, bf16) per
length, through torch's cuDNN and flash SDPA backends: CUDA events around the call, one warm-up, the
median of the repeats. GQA goes in as enable_gqa (K/V not expanded); where a backend refuses that,
K/V are expanded to 32 heads and the record says so. A backend that fails at a length (torch's flash
backend overflows 32-bit offsets at 1M) is caught and its error recorded. Writes a JSON list of
{"backend", "tokens", "median_ms", "error", "gqa"}.
"""
import argparse
import json
import statistics
import sys


def measure(torch, sdpa, backend, q, k, v, repeats):
    from torch.nn.attention import sdpa_kernel

    with sdpa_kernel([backend]):
        def call(kk, vv, gqa):
            return sdpa(q, kk, vv, is_causal=True, enable_gqa=gqa)

        try:
            call(k, v, True)
            gqa, kk, vv = "enable_gqa", k, v
        except RuntimeError:
            group = q.shape[1] // k.shape[1]
            kk = k.repeat_interleave(group, dim=1)
            vv = v.repeat_interleave(group, dim=1)
            call(kk, vv, False)
            gqa = "expanded"
        torch.cuda.synchronize()
        times = []
        for _ in range(repeats):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            out = call(kk, vv, gqa == "enable_gqa")
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
            if not torch.isfinite(out[0, :, -1]).all():
                raise RuntimeError("non-finite output")
            del out
        return statistics.median(times), gqa


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", required=True, help="comma-separated token counts")
    parser.add_argument("--json", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    results = []
    try:
        import torch
        from torch.nn.attention import SDPBackend
        from torch.nn.functional import scaled_dot_product_attention as sdpa
    except Exception as error:  # no torch on this machine: say so in the results
        for n in args.lengths.split(","):
            for name in ("cudnn", "flash"):
                results.append({"backend": name, "tokens": int(n), "median_ms": None, "error": f"torch unavailable: {error}", "gqa": None})
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
        return 0

    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}", flush=True)
    backends = [("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)]
    for n in (int(x) for x in args.lengths.split(",")):
        generator = torch.Generator(device="cuda").manual_seed(n)
        q = torch.rand((1, 32, n, 128), device="cuda", dtype=torch.bfloat16, generator=generator) * 2 - 1
        k = torch.rand((1, 8, n, 128), device="cuda", dtype=torch.bfloat16, generator=generator) * 2 - 1
        v = torch.rand((1, 8, n, 128), device="cuda", dtype=torch.bfloat16, generator=generator) * 2 - 1
        repeats = args.repeats if n <= 256 * 1024 else 1
        for name, backend in backends:
            record = {"backend": name, "tokens": n, "median_ms": None, "error": None, "gqa": None}
            try:
                record["median_ms"], record["gqa"] = measure(torch, sdpa, backend, q, k, v, repeats)
            except Exception as error:  # record the failure (e.g. flash at 1M) and go on
                record["error"] = f"{type(error).__name__}: {error}"[:400]
            print(json.dumps(record), flush=True)
            results.append(record)
            # Written after every record: a failure that kills the CUDA context still leaves the rest.
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
            try:
                torch.cuda.empty_cache()
            except Exception:
                pass
        del q, k, v
    return 0


if __name__ == "__main__":
    sys.exit(main())
