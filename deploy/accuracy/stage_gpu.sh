#!/usr/bin/env bash
# Stages the accuracy testbed's device call: everything deploy/gpu/run.sh stages (CLI, .NET runtime,
# CUDA sources) plus the ASP.NET Core shared framework the CLI needs, the training scripts and the
# shipped model's tokenizer and searched config, into MINFERENCE_GPU_STAGING (an ignored folder of the checkout the device tool
# ships). Then: device run, carry [<staging folder>], command:
#     OUT=$OUT bash <staging folder>/deploy/accuracy/gpu_session.sh
set -euo pipefail

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
staging=${MINFERENCE_GPU_STAGING:?set MINFERENCE_GPU_STAGING to an ignored folder of the checkout the device tool ships}
MINFERENCE_GPU_STAGING=$staging bash "$repo/deploy/gpu/run.sh"
rm -rf "$staging/deploy/accuracy" "$staging/accuracy"
mkdir -p "$staging/deploy/accuracy" "$staging/accuracy"
cp "$repo"/deploy/accuracy/*.py "$repo"/deploy/accuracy/*.sh "$staging/deploy/accuracy/"
cp "$repo"/tests/fixtures/models/retrieval-llama-4m/{tokenizer.json,tokenizer_config.json,searched-config.json} "$staging/accuracy/"
# The CLI is an ASP.NET Core app (it hosts the silo): it needs that shared framework beside the base
# runtime run.sh packs. Rebuilt only when the version changes.
dotnet_root=${DOTNET_ROOT:-$(dirname "$(readlink -f "$(command -v dotnet)")")}
aspnet_dir=$(ls -d "$dotnet_root"/shared/Microsoft.AspNetCore.App/* | sort -V | tail -1)
aspnet_tarball="$staging/aspnetcore-runtime-$(basename "$aspnet_dir").tar.xz"
if [[ ! -f $aspnet_tarball ]]; then
    rm -f "$staging"/aspnetcore-runtime-*.tar.xz
    tar -C "$dotnet_root" -cf - "shared/Microsoft.AspNetCore.App/$(basename "$aspnet_dir")" | xz -T2 -6 >"$aspnet_tarball"
fi
size=$(du -sm "$staging" | cut -f1)
echo "== staged $size MiB in $staging with the accuracy scripts (the device tool carries at most 64 MiB)"
(( size < 64 )) || { echo "staging exceeds the 64 MiB carry limit" >&2; exit 1; }
