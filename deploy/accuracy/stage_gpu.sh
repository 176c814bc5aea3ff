#!/usr/bin/env bash
# Stages the accuracy testbed's device call: everything deploy/gpu/run.sh stages (CLI, .NET runtime
# with ASP.NET Core, CUDA sources) plus the training scripts and the shipped model's tokenizer and
# searched config, into MINFERENCE_GPU_STAGING (an ignored folder of the checkout the device tool
# ships). Then: device run, carry [<staging folder>], command:
#     BUDGET=525 bash <staging folder>/deploy/accuracy/gpu_session.sh
set -euo pipefail

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
staging=${MINFERENCE_GPU_STAGING:?set MINFERENCE_GPU_STAGING to an ignored folder of the checkout the device tool ships}
MINFERENCE_GPU_STAGING=$staging bash "$repo/deploy/gpu/run.sh"
rm -rf "$staging/deploy/accuracy" "$staging/accuracy"
mkdir -p "$staging/deploy/accuracy" "$staging/accuracy"
cp "$repo"/deploy/accuracy/*.py "$repo"/deploy/accuracy/*.sh "$staging/deploy/accuracy/"
cp "$repo"/tests/fixtures/models/retrieval-llama-4m/{tokenizer.json,tokenizer_config.json,searched-config.json} "$staging/accuracy/"
# deploy/gpu/run.sh packs the ASP.NET Core shared framework (the CLI hosts the silo) into its runtime tarball.
rm -f "$staging"/aspnetcore-runtime-*.tar.xz
size=$(du -sm "$staging" | cut -f1)
echo "== staged $size MiB in $staging with the accuracy scripts (the device tool carries at most 64 MiB)"
(( size < 64 )) || { echo "staging exceeds the 64 MiB carry limit" >&2; exit 1; }
