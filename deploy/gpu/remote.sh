#!/usr/bin/env bash
# Runs on the GPU machine from the repository root, with .gpu carried (see run.sh): unpacks the
# .NET runtime, builds the kernels' fatbin with nvcc (cmake), runs the GPU tests, writes logs and
# results to $OUT and prints a short summary last.
# Extra arguments go to the xunit runner (e.g. -class MInference.Kernels.Cuda.Tests.BindingTests).
# Optional steps, by environment: MINFERENCE_GPU_BENCH=1 runs the explicit benchmark classes named in
# MINFERENCE_GPU_BENCH_CLASS (space-separated; default AttentionBenchmarks); MINFERENCE_GPU_TORCH="32768
# 131072" times torch SDPA's flash and cuDNN backends at those lengths; MINFERENCE_GPU_PREFILL=32K,128K
# runs `minference bench prefill` on a generated model (MINFERENCE_GPU_PREFILL_SHAPE, default llama3-8b);
# MINFERENCE_GPU_MEMCHECK="WgmmaAttentionTests SparseIndexTests" runs those classes under compute-sanitizer memcheck.
set -uo pipefail

stage=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$stage/out}
mkdir -p "$out"
export PATH=/usr/local/cuda/bin:$PATH

echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
nvcc --version | tail -2 | tee -a "$out/gpu.txt"

echo "== .NET runtime"
rm -rf /tmp/dotnet && mkdir -p /tmp/dotnet
tar -C /tmp/dotnet -xJf "$stage"/dotnet-runtime-*.tar.xz
export DOTNET_ROOT=/tmp/dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if [[ -f $stage/tests.tar.xz ]]; then
    rm -rf "$stage/tests" && tar -C "$stage" -xJf "$stage/tests.tar.xz"
fi

echo "== nvcc fatbin"
build=/tmp/minference-kernels
rm -rf "$build"
fatbin_rc=0
{ cmake -S "$stage/kernels/cuda" -B "$build" -G Ninja >/dev/null && cmake --build "$build"; } >"$out/nvcc.log" 2>&1 || fatbin_rc=$?
grep -E "error|warning|registers|spill|bytes stack" "$out/nvcc.log" | grep -v "^ptxas info    : Compiling" | head -60
if (( fatbin_rc != 0 )); then
    tail -40 "$out/nvcc.log"
    echo "SUMMARY: nvcc build FAILED (rc $fatbin_rc); see nvcc.log"
    exit 1
fi
export MINFERENCE_CUDA_FATBIN=$build/minference_kernels.fatbin
ls -l "$MINFERENCE_CUDA_FATBIN"

echo "== GPU tests"
test_rc=0
/tmp/dotnet/dotnet "$stage/tests/MInference.Kernels.Cuda.Tests.dll" -noColor -reporter verbose \
    -result-ctrf "$out/gpu-tests.ctrf.json" "$@" >"$out/gpu-tests.log" 2>&1 || test_rc=$?
grep -E "\[FAIL\]|Assert|exceeds|Exception" "$out/gpu-tests.log" | head -60

bench_line=""
if [[ ${MINFERENCE_GPU_BENCH:-0} == 1 ]]; then
    echo "== benchmarks (explicit tests) -> attention.jsonl"
    export MINFERENCE_BENCH_OUT=$out
    # MINFERENCE_GPU_BENCH_CLASS may name several classes, separated by spaces.
    bench_classes=()
    for class in ${MINFERENCE_GPU_BENCH_CLASS:-AttentionBenchmarks}; do
        bench_classes+=(-class "MInference.Kernels.Cuda.Tests.$class")
    done
    /tmp/dotnet/dotnet "$stage/tests/MInference.Kernels.Cuda.Tests.dll" -noColor -explicit only \
        "${bench_classes[@]}" >"$out/bench.log" 2>&1 || bench_line="benchmarks FAILED (see bench.log); "
    grep -E "\[FAIL\]|Exception" "$out/bench.log" | head -20
    [[ -f $out/attention.jsonl ]] && cat "$out/attention.jsonl"
fi
if [[ -n ${MINFERENCE_GPU_MEMCHECK:-} ]]; then
    # compute-sanitizer memcheck over the test classes named (space-separated, short names; keep to small
    # cases: memcheck runs kernels 10-100x slower). Any reported error fails the summary line.
    echo "== compute-sanitizer memcheck: ${MINFERENCE_GPU_MEMCHECK} -> memcheck.log"
    memcheck_classes=()
    for class in $MINFERENCE_GPU_MEMCHECK; do
        memcheck_classes+=(-class "MInference.Kernels.Cuda.Tests.$class")
    done
    memcheck_rc=0
    timeout 300 compute-sanitizer --tool memcheck --error-exitcode 99 \
        /tmp/dotnet/dotnet "$stage/tests/MInference.Kernels.Cuda.Tests.dll" -noColor "${memcheck_classes[@]}" \
        >"$out/memcheck.log" 2>&1 || memcheck_rc=$?
    grep -E "ERROR SUMMARY|Invalid|out of bounds|Total:" "$out/memcheck.log" | tail -8
    (( memcheck_rc == 0 )) || bench_line="${bench_line}memcheck FAILED (rc $memcheck_rc, see memcheck.log); "
fi
if [[ -n ${MINFERENCE_GPU_TORCH:-} ]]; then
    # torch SDPA (flash, cuDNN) at the lengths listed, same shape, appended to attention.jsonl.
    echo "== torch SDPA at ${MINFERENCE_GPU_TORCH} tokens -> attention.jsonl"
    PYTHONUNBUFFERED=1 timeout 180 python3 "$stage/deploy/gpu/torch_sdpa_bench.py" "$out/attention.jsonl" $MINFERENCE_GPU_TORCH \
        >"$out/torch.log" 2>&1 || bench_line="${bench_line}torch bench FAILED (see torch.log); "
    tail -8 "$out/torch.log"
fi
if [[ -n ${MINFERENCE_GPU_PREFILL:-} ]]; then
    # Whole-model pre-fill of a generated llama3-8b (weights computed in memory) at the lengths given.
    echo "== bench prefill --lengths ${MINFERENCE_GPU_PREFILL} -> prefill.json"
    timeout 300 /tmp/dotnet/dotnet "$stage/tests/minference.dll" bench prefill --generate "${MINFERENCE_GPU_PREFILL_SHAPE:-llama3-8b}" \
        --lengths "$MINFERENCE_GPU_PREFILL" --json "$out/prefill.json" >"$out/prefill.log" 2>&1 || bench_line="${bench_line}prefill bench FAILED (see prefill.log); "
    tail -30 "$out/prefill.log"
fi
if [[ -n ${MINFERENCE_GPU_NCU:-} ]]; then
    # Nsight Compute on the first launch of the kernels matching the regex, during the benchmarks.
    echo "== ncu: first launch matching '$MINFERENCE_GPU_NCU' -> ncu.txt"
    MINFERENCE_BENCH_OUT= ncu --kernel-name "regex:$MINFERENCE_GPU_NCU" --launch-count 1 \
        --section SpeedOfLight --section WarpStateStats --section ComputeWorkloadAnalysis \
        --section Occupancy --section LaunchStats --section InstructionStats \
        /tmp/dotnet/dotnet "$stage/tests/MInference.Kernels.Cuda.Tests.dll" -noColor -explicit only \
        -class MInference.Kernels.Cuda.Tests.AttentionBenchmarks >"$out/ncu.txt" 2>&1 || echo "ncu failed (see ncu.txt)"
    grep -E "Throughput|Issue Slots|Warp Cycles Per Issued|Stall|Achieved Occupancy|Registers Per|Pipe Utilization|Executed Ipc" "$out/ncu.txt" | head -40
fi
echo "SUMMARY: fatbin ok; ${bench_line}tests rc $test_rc; $(grep -E 'Total: [0-9]+' "$out/gpu-tests.log" | tail -1 | sed 's/^ *//')"
exit $test_rc
