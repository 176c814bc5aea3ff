#!/usr/bin/env bash
# One device call for the accuracy testbed, run from the repository root on the GPU machine with the
# staging folder carried (stage_gpu.sh): trains the model alone on the GPU, ships it to $OUT as soon
# as its final weights are saved (so a late failure still leaves the model), lets train.py evaluate it
# and write the transformers logits fixture, then runs `minference search` and `minference eval
# --device cuda` on it within what is left of the time limit.
#
#   bash STAGING/deploy/accuracy/gpu_session.sh
#
# Environment: BUDGET (seconds the whole script may take, default 465; keep it below the call's
# timeout), WORK (/tmp/accuracy), DOTNET_DIR (/tmp/dotnet), TRAIN_SECONDS (330), TRAIN_SEED (2), TRAIN_LR (1e-3), TRAIN_WORKERS (12); EVAL_LENGTHS,
# EVAL_DEPTHS, EVAL_DEVICE (cuda) for the engine's evaluation.
# Files back in $OUT (at most 8): train.log, setup.log, model.tar (the model directory with eval.json),
# searched-config.json, eval-cuda.log, eval-cuda-fixed.json, eval-cuda-searched.json.
set -uo pipefail

stage=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:?OUT must name the folder whose files come back}
budget=${BUDGET:-465}
work=${WORK:-/tmp/accuracy}
dotnet=${DOTNET_DIR:-/tmp/dotnet}
rm -rf "$work" && mkdir -p "$work"
started=$SECONDS
left() { echo $((budget - (SECONDS - started))); }
note() { echo "[$((SECONDS - started))s] $*" | tee -a "$out/setup.log"; }

# 1. Training, alone on the GPU: its log streams straight into $OUT.
PYTHONUNBUFFERED=1 python3 "$stage/deploy/accuracy/train.py" --out "$work/b" --seconds "${TRAIN_SECONDS:-330}" \
    --seed "${TRAIN_SEED:-2}" --lr "${TRAIN_LR:-1e-3}" --workers "${TRAIN_WORKERS:-12}" >"$out/train.log" 2>&1 &
train_pid=$!
note "training started (pid $train_pid)"

# 2. Meanwhile on the CPU: the .NET runtime, the published CLI and the kernels' fatbin (as remote.sh does).
(
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    export PATH=/usr/local/cuda/bin:$PATH
    nvcc --version | tail -2
    rm -rf "$dotnet" && mkdir -p "$dotnet" && tar -C "$dotnet" -xJf "$stage"/dotnet-runtime-*.tar.xz \
        && tar -C "$dotnet" -xJf "$stage"/aspnetcore-runtime-*.tar.xz
    rm -rf "$stage/tests" && tar -C "$stage" -xJf "$stage/tests.tar.xz"
    nice cmake -S "$stage/kernels/cuda" -B "$work/kernels" -G Ninja >/dev/null \
        && nice cmake --build "$work/kernels" -j 4 >"$work/nvcc.log" 2>&1
    rc=$?
    grep -E "error" "$work/nvcc.log" | head -20
    ls -l "$work/kernels/minference_kernels.fatbin"
    echo "setup rc $rc"
) >>"$out/setup.log" 2>&1 &
setup_pid=$!

# 3. Ship the model the moment its final weights are saved (train.py then evaluates them and writes the
#    fixture while the engine runs); if training overruns, stop it and ship the last checkpoint.
pack() {
    tar -C "$work/b" -cf "$out/model.tar.tmp" model $( [[ -f $work/b/eval.json ]] && echo eval.json ) \
        && mv "$out/model.tar.tmp" "$out/model.tar" && note "packed model.tar ($1): $(tar -tf "$out/model.tar" | tr '\n' ' ')"
}
while kill -0 "$train_pid" 2>/dev/null && [[ ! -f $work/b/FINAL_SAVED ]]; do
    if (( $(left) < 60 )); then
        note "training still running with $(left) s left: stopping it"
        kill "$train_pid"
        sleep 3
        break
    fi
    sleep 2
done
sleep 2
[[ -d $work/b/model ]] && pack "final weights or last checkpoint"

# 4. The engine on CUDA: search the new model (CPU) while the fixed configs run on the GPU.
wait "$setup_pid"
export DOTNET_ROOT=$dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export MINFERENCE_CUDA_FATBIN=$work/kernels/minference_kernels.fatbin
cli=("$dotnet/dotnet" "$stage/tests/minference.dll")
model=$work/m
mkdir -p "$model"
if [[ -f $work/b/model/model.safetensors ]]; then
    cp "$work/b/model/config.json" "$work/b/model/model.safetensors" "$model/"
else
    note "no trained model: evaluating the shipped one"
    cp "$stage/../tests/fixtures/models/retrieval-llama-4m/config.json" "$stage/../tests/fixtures/models/retrieval-llama-4m/model.safetensors" "$model/"
fi
cp "$stage/accuracy/tokenizer.json" "$stage/accuracy/tokenizer_config.json" "$model/"
limit() { local s=$(( $(left) - $1 )); (( s < 5 )) && s=5; echo "$s"; }

note "search (CPU) and eval of dense and A-shape (CUDA), $(left) s left"
timeout "$(limit 60)" "${cli[@]}" search --model "$model" --tokens 4096 --threads 6 --out "$out/searched-config.json" >>"$out/setup.log" 2>&1 &
search_pid=$!
grid=(--task kv,niah --lengths "${EVAL_LENGTHS:-2K,4K,8K,16K}" --depths "${EVAL_DEPTHS:-0,0.25,0.5,0.75,1}" --device "${EVAL_DEVICE:-cuda}" --threads 6)
timeout "$(limit 55)" "${cli[@]}" eval --model "$model" "${grid[@]}" \
    --config dense --config ashape --json "$out/eval-cuda-fixed.json" >"$out/eval-cuda.log" 2>&1
note "eval (fixed configs) rc $?"
wait "$search_pid"
note "search rc $?"

# 5. train.py's evaluation and fixture: wait for them (stop it if it would overrun), ship the model again.
while kill -0 "$train_pid" 2>/dev/null; do
    if (( $(left) < 35 )); then
        note "train.py still running with $(left) s left: stopping it"
        kill "$train_pid"
        sleep 2
        break
    fi
    sleep 2
done
note "train.py exited"
[[ -d $work/b/model ]] && pack "with eval.json and the fixture"
tail -4 "$out/train.log"

searched=$out/searched-config.json
[[ -f $searched ]] || searched=$stage/accuracy/searched-config.json
timeout "$(limit 5)" "${cli[@]}" eval --model "$model" "${grid[@]}" \
    --config "$searched" --json "$out/eval-cuda-searched.json" >>"$out/eval-cuda.log" 2>&1
note "eval (searched config $searched) rc $?"
grep -E "accuracy per config" -A40 "$out/eval-cuda.log" | grep -E "│" | head -50
note "done, $(left) s left"
