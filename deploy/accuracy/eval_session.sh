#!/usr/bin/env bash
# One device call that evaluates the shipped testbed model on CUDA (no training): unpacks the .NET
# runtime and the CLI and builds the kernels' fatbin (as gpu_session.sh does), re-runs the pattern
# search with a larger reference (CPU; --tokens SEARCH_TOKENS scales every candidate's budget with it)
# while dense and A-shape run on the GPU, then evaluates the shipped searched config, the new one and
# MInference's default config side by side.
#
#   bash STAGING/deploy/accuracy/eval_session.sh
#
# Environment: MODEL (tests/fixtures/models/retrieval-llama-4m), BUDGET (seconds, default 200),
# TASKS (niah), EVAL_LENGTHS (2K,4K,8K,16K), EVAL_DEPTHS (0,0.25,0.5,0.75,1), EVAL_SAMPLES (4 per cell),
# SEARCH_TOKENS (5632). Files back in $OUT: setup.log and eval.tar (JSON, heat maps, logs, the new config).
set -uo pipefail

stage=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:?OUT must name the folder whose files come back}
budget=${BUDGET:-200}
work=${WORK:-/tmp/accuracy}
dotnet=${DOTNET_DIR:-/tmp/dotnet}
model=${MODEL:-tests/fixtures/models/retrieval-llama-4m}
rm -rf "$work" && mkdir -p "$work/eval"
started=$SECONDS
left() { echo $((budget - (SECONDS - started))); }
note() { echo "[$((SECONDS - started))s] $*" | tee -a "$out/setup.log"; }
limit() { local s=$(( $(left) - $1 )); (( s < 5 )) && s=5; echo "$s"; }
e=$work/eval
pack() { tar -C "$e" -cf "$out/eval.tar.tmp" . && mv "$out/eval.tar.tmp" "$out/eval.tar"; }

(
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    export PATH=/usr/local/cuda/bin:$PATH
    rm -rf "$dotnet" && mkdir -p "$dotnet"
    for t in "$stage"/dotnet-runtime-*.tar.xz "$stage"/aspnetcore-runtime-*.tar.xz; do
        [[ -f $t ]] && tar -C "$dotnet" -xJf "$t"
    done
    rm -rf "$stage/tests" && tar -C "$stage" -xJf "$stage/tests.tar.xz"
    cmake -S "$stage/kernels/cuda" -B "$work/kernels" -G Ninja >/dev/null \
        && cmake --build "$work/kernels" -j 12 >"$work/nvcc.log" 2>&1
    echo "setup rc $?"
) >>"$out/setup.log" 2>&1
note "setup done"

export DOTNET_ROOT=$dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export MINFERENCE_CUDA_FATBIN=$work/kernels/minference_kernels.fatbin
cli=("$dotnet/dotnet" "$stage/tests/minference.dll")
grid=(--task "${TASKS:-niah}" --lengths "${EVAL_LENGTHS:-2K,4K,8K,16K}" --depths "${EVAL_DEPTHS:-0,0.25,0.5,0.75,1}"
      --seed 3 --device cuda --threads 4)
samples=${EVAL_SAMPLES:-4}

cp "$model/searched-config.json" "$e/searched-config.json"
timeout "$(limit 90)" "${cli[@]}" search --model "$model" --tokens "${SEARCH_TOKENS:-5632}" --threads 10 \
    --out "$e/searched-${SEARCH_TOKENS:-5632}.json" >"$e/search.log" 2>&1 &
search_pid=$!
timeout "$(limit 80)" "${cli[@]}" eval --model "$model" "${grid[@]}" --samples "$samples" --config dense --config ashape \
    --json "$e/fixed.json" --heatmap "$e/heatmap.png" >"$e/eval-fixed.log" 2>&1
note "eval (dense, A-shape) rc $?"
pack
timeout "$(limit 15)" "${cli[@]}" eval --model "$model" "${grid[@]}" --samples "$samples" --config "$e/searched-config.json" \
    --json "$e/searched.json" --heatmap "$e/heatmap.png" >"$e/eval-searched.log" 2>&1 &
shipped_pid=$!
timeout "$(limit 15)" "${cli[@]}" eval --model "$model" "${grid[@]}" --samples 1 --config default \
    --json "$e/default.json" >"$e/eval-default.log" 2>&1 &
default_pid=$!
wait "$search_pid"
note "search rc $?"
if [[ -f $e/searched-${SEARCH_TOKENS:-5632}.json ]]; then
    timeout "$(limit 10)" "${cli[@]}" eval --model "$model" "${grid[@]}" --samples "$samples" \
        --config "$e/searched-${SEARCH_TOKENS:-5632}.json" --json "$e/searched-${SEARCH_TOKENS:-5632}-eval.json" \
        --heatmap "$e/heatmap.png" >"$e/eval-searched-${SEARCH_TOKENS:-5632}.log" 2>&1
    note "eval (new search) rc $?"
fi
wait "$shipped_pid"
note "eval (shipped searched config) rc $?"
wait "$default_pid"
note "eval (default) rc $?"
pack
for f in "$e"/eval-*.log; do
    echo "== $f"
    grep -E "│ (dense|A-shape|searched|default)" "$f" | head -12
done
note "done, $(left) s left"
