#!/usr/bin/env bash
# Builds and runs the wgmma harness on the GPU machine, from the folder holding kernels/cuda and
# deploy/gpu/wgmma (the repository root or a staged copy). Writes the ptxas report, the SASS instruction
# counts and the harness output to $OUT (or ./out). Usage: bash deploy/gpu/wgmma/harness.sh [--time-only]
set -uo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${OUT:-$root/out}
mkdir -p "$out"
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
nvcc --version | tail -1
start=$(date +%s)
if ! nvcc -gencode=arch=compute_90a,code=sm_90a -O3 -std=c++17 -Xptxas=-v -lineinfo \
    -o /tmp/wgmma-harness "$root/deploy/gpu/wgmma/harness.cu" >"$out/ptxas.log" 2>&1; then
    grep -E "error" "$out/ptxas.log" | head -30
    echo "HARNESS BUILD FAILED"
    exit 1
fi
echo "built in $(( $(date +%s) - start )) s"
# Registers, spills and wgmma serialisation warnings of the wgmma kernels.
grep -E "wgmma|C75|warning" "$out/ptxas.log" | grep -v "^ptxas info    : Compiling" | head -20
grep -A2 -E "Compiling entry function '(flash_attention_wgmma|harness_)" "$out/ptxas.log" | grep -E "entry|registers|spill" | sed 's/ptxas info    : //' | paste - - - | cut -c1-220
cuobjdump -sass /tmp/wgmma-harness >"$out/harness.sass" 2>/dev/null
echo "SASS: HGMMA $(grep -c HGMMA "$out/harness.sass"), HMMA $(grep -c HMMA "$out/harness.sass")"
/tmp/wgmma-harness "$@" 2>&1 | tee "$out/harness.log"
exit "${PIPESTATUS[0]}"
