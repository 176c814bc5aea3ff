#!/usr/bin/env bash
# One device call for the accuracy testbed, run from the repository root on the GPU machine with the
# staging folder carried (stage_gpu.sh): trains two recipes at once on the one GPU (two processes
# share it well: the models are small), ships each model to $OUT the moment its final weights are
# saved (so a late failure still leaves them), then, for each model, runs `minference search` (CPU)
# and `minference eval --device cuda` (dense and A-shape, the searched config, MInference's default
# config; NIAH and KV at 2K-16K) within what is left of the time limit.
#
#   BUDGET=525 bash STAGING/deploy/accuracy/gpu_session.sh
#
# Environment: BUDGET (seconds the whole script may take, default 525; keep it below the call's
# timeout), WORK (/tmp/accuracy), DOTNET_DIR (/tmp/dotnet), TRAIN_SECONDS (320), RUNS (names, "c d"),
# RUN_<name> (train.py arguments of that run; defaults below), EVAL_LENGTHS (2K,4K,8K,16K),
# EVAL_DEPTHS (0,0.25,0.5,0.75,1), EVAL_SAMPLES (2 per cell), EVAL_DEVICE (cuda).
# Files back in $OUT (at most 8): setup.log, and per run: train-<name>.log (streamed), model-<name>.tar
# (the model directory, eval.json and the fixture once written; in 15 MB parts when larger), eval-<name>.tar (the searched config,
# the engine's JSON, heat maps and logs; re-packed after every step).
set -uo pipefail

stage=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:?OUT must name the folder whose files come back}
budget=${BUDGET:-525}
work=${WORK:-/tmp/accuracy}
dotnet=${DOTNET_DIR:-/tmp/dotnet}
runs=(${RUNS:-c d})
# Run c: the shipped size (4 layers, hidden 256); run d: 6 layers, hidden 384 (6 query / 3 KV heads of
# 64), MLP 1024, about 9.9 M parameters (19.9 MB in bf16). Same third recipe, different seeds.
RUN_c=${RUN_c:---seed 3 --lr 1e-3 --first-weight 2 --short-share 0.3}
RUN_d=${RUN_d:---seed 4 --lr 1e-3 --first-weight 2 --short-share 0.3 --layers 6 --hidden 384 --kv-heads 3 --mlp 1024}
rm -rf "$work" && mkdir -p "$work"
started=$SECONDS
left() { echo $((budget - (SECONDS - started))); }
note() { echo "[$((SECONDS - started))s] $*" | tee -a "$out/setup.log"; }
limit() { local s=$(( $(left) - $1 )); (( s < 5 )) && s=5; echo "$s"; }

# 1. Both trainings at once; their logs stream straight into $OUT.
declare -A train_pid
for r in "${runs[@]}"; do
    var=RUN_$r
    # shellcheck disable=SC2086 # the run's arguments are words on purpose
    PYTHONUNBUFFERED=1 python3 "$stage/deploy/accuracy/train.py" --out "$work/$r" --seconds "${TRAIN_SECONDS:-320}" \
        --workers "${TRAIN_WORKERS:-6}" ${!var} >"$out/train-$r.log" 2>&1 &
    train_pid[$r]=$!
    note "training $r started (pid ${train_pid[$r]}): ${!var}"
done

# 2. Meanwhile on the CPU: the .NET runtime, the published CLI and the kernels' fatbin (as remote.sh does).
(
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    export PATH=/usr/local/cuda/bin:$PATH
    nvcc --version | tail -2
    rm -rf "$dotnet" && mkdir -p "$dotnet"
    for t in "$stage"/dotnet-runtime-*.tar.xz "$stage"/aspnetcore-runtime-*.tar.xz; do
        [[ -f $t ]] && tar -C "$dotnet" -xJf "$t"
    done
    rm -rf "$stage/tests" && tar -C "$stage" -xJf "$stage/tests.tar.xz"
    nice cmake -S "$stage/kernels/cuda" -B "$work/kernels" -G Ninja >/dev/null \
        && nice cmake --build "$work/kernels" -j 4 >"$work/nvcc.log" 2>&1
    rc=$?
    grep -E "error" "$work/nvcc.log" | head -20
    ls -l "$work/kernels/minference_kernels.fatbin"
    echo "setup rc $rc"
) >>"$out/setup.log" 2>&1 &
setup_pid=$!

pack_model() {
    local r=$1
    [[ -d $work/$r/model ]] || return 0
    tar -C "$work/$r" -cf "$out/model-$r.tar.tmp" model $( [[ -f $work/$r/eval.json ]] && echo eval.json ) \
        && mv "$out/model-$r.tar.tmp" "$out/model-$r.tar" && note "packed model-$r.tar ($2): $(tar -tf "$out/model-$r.tar" | tr '\n' ' ')"
    # Files over 16 MB do not come back (a 6-layer, hidden-384 model is 20 MB): send those in parts
    # (cat model-X.tar.part-* > model-X.tar).
    if (( $(stat -c %s "$out/model-$r.tar") > 15000000 )); then
        rm -f "$out/model-$r.tar.part-"*
        split -b 15000000 "$out/model-$r.tar" "$out/model-$r.tar.part-" && rm "$out/model-$r.tar"
    fi
}
pack_eval() {
    local r=$1
    tar -C "$work/eval-$r" -cf "$out/eval-$r.tar.tmp" . && mv "$out/eval-$r.tar.tmp" "$out/eval-$r.tar"
}

# 3. Wait for both final weights (stop a run that would overrun and keep its last checkpoint).
for r in "${runs[@]}"; do
    while kill -0 "${train_pid[$r]}" 2>/dev/null && [[ ! -f $work/$r/FINAL_SAVED ]]; do
        if (( $(left) < 150 )); then
            note "training $r still running with $(left) s left: stopping it"
            kill "${train_pid[$r]}"
            sleep 3
            break
        fi
        sleep 2
    done
done
sleep 2
for r in "${runs[@]}"; do pack_model "$r" "final weights or last checkpoint"; done

# 4. The engine: per run, search (CPU) while dense and A-shape run on the GPU, then the searched config,
#    then MInference's default config; both runs side by side.
wait "$setup_pid"
export DOTNET_ROOT=$dotnet DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export MINFERENCE_CUDA_FATBIN=$work/kernels/minference_kernels.fatbin
cli=("$dotnet/dotnet" "$stage/tests/minference.dll")
grid=(--task kv,niah --lengths "${EVAL_LENGTHS:-2K,4K,8K,16K}" --depths "${EVAL_DEPTHS:-0,0.25,0.5,0.75,1}"
      --seed 1 --device "${EVAL_DEVICE:-cuda}" --threads 3)
engine() {
    local r=$1 model=$work/m-$r e=$work/eval-$r
    mkdir -p "$model" "$e"
    if [[ ! -f $work/$r/model/model.safetensors ]]; then
        note "run $r: no trained model"
        return
    fi
    cp "$work/$r/model/config.json" "$work/$r/model/model.safetensors" "$model/"
    cp "$stage/accuracy/tokenizer.json" "$stage/accuracy/tokenizer_config.json" "$model/"
    note "run $r: search (CPU) and eval of dense and A-shape (CUDA), $(left) s left"
    timeout "$(limit 70)" "${cli[@]}" search --model "$model" --tokens 4096 --threads 5 --out "$e/searched-config.json" >"$e/search.log" 2>&1 &
    local search_pid=$!
    timeout "$(limit 60)" "${cli[@]}" eval --model "$model" "${grid[@]}" --samples "${EVAL_SAMPLES:-2}" --config dense --config ashape \
        --json "$e/fixed.json" --heatmap "$e/heatmap.png" >"$e/eval-fixed.log" 2>&1
    note "run $r: eval (dense, A-shape) rc $?"
    pack_eval "$r"
    wait "$search_pid"
    note "run $r: search rc $?"
    if [[ -f $e/searched-config.json ]]; then
        timeout "$(limit 25)" "${cli[@]}" eval --model "$model" "${grid[@]}" --samples "${EVAL_SAMPLES:-2}" --config "$e/searched-config.json" \
            --json "$e/searched.json" --heatmap "$e/heatmap.png" >"$e/eval-searched.log" 2>&1
        note "run $r: eval (searched) rc $?"
        pack_eval "$r"
    fi
    timeout "$(limit 12)" "${cli[@]}" eval --model "$model" "${grid[@]}" --samples 1 --config default \
        --json "$e/default.json" >"$e/eval-default.log" 2>&1
    note "run $r: eval (default) rc $?"
    pack_eval "$r"
}
engine_pids=()
for r in "${runs[@]}"; do
    engine "$r" &
    engine_pids+=($!)
done

# 5. train.py's own evaluation and fixture: wait for them (stop them if they would overrun), ship again.
for r in "${runs[@]}"; do
    while kill -0 "${train_pid[$r]}" 2>/dev/null; do
        if (( $(left) < 20 )); then
            note "train.py $r still running with $(left) s left: stopping it"
            kill "${train_pid[$r]}"
            sleep 1
            break
        fi
        sleep 2
    done
    note "train.py $r exited"
    pack_model "$r" "with eval.json and the fixture"
    grep -E "final eval" "$out/train-$r.log" | cut -c1-1200
done
wait "${engine_pids[@]}"
for r in "${runs[@]}"; do
    for f in "$work/eval-$r"/eval-*.log; do
        [[ -f $f ]] && { echo "== $f"; grep -E "│" "$f" | head -30; }
    done
done
note "done, $(left) s left"
