#!/usr/bin/env bash
# Stages everything a GPU run needs into <repo>/.gpu (git-ignored): the GPU test executable
# (framework-dependent, Release), a .NET runtime tarball, the CUDA sources and remote.sh. Then
# one `device` call runs it there:
#     device run  carry: [".gpu"]  command: bash .gpu/deploy/gpu/remote.sh
# Set MINFERENCE_GPU_STAGING to stage into another checkout's .gpu (the device tool ships the
# session's main checkout, e.g. <main checkout>/.gpu, whichever worktree you build in).
set -euo pipefail

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
staging=${MINFERENCE_GPU_STAGING:-$repo/.gpu}
dotnet_root=${DOTNET_ROOT:-$(dirname "$(readlink -f "$(command -v dotnet)")")}

mkdir -p "$staging"
# English resources only: the carry limit is 64 MiB, the runtime alone takes 26. XML docs are removed
# after publishing (turning them off at build time breaks the IDE0005 analyzer, an error here).
publish_flags="-p:SatelliteResourceLanguages=en"
rm -rf "$staging/tests" "$staging/tests.tar.xz" "$staging/kernels" "$staging/deploy"

echo "== publish GPU tests (Release, framework-dependent) -> $staging/tests"
dotnet publish "$repo/tests/MInference.Kernels.Cuda.Tests" -c Release -o "$staging/tests" --nologo -v quiet $publish_flags

# The CLI goes into the same folder: it shares most assemblies with the tests, so they travel once
# (each app keeps its own deps.json and runtimeconfig.json). Run it there as tests/minference.dll.
echo "== publish the minference CLI (Release, framework-dependent) -> $staging/tests"
dotnet publish "$repo/client/MInference.Cli" -c Release -o "$staging/tests" --nologo -v quiet $publish_flags

find "$staging/tests" -name '*.xml' -delete
# The CLI brings the silo's dependencies (the dashboard alone is 17 MB): the folder travels as one xz
# tarball (about a third of its size); remote.sh unpacks it back into tests/ before anything runs.
echo "== pack tests/ -> tests.tar.xz"
rm -f "$staging/tests.tar.xz"
tar -C "$staging" -cf - tests | xz -T2 -6 >"$staging/tests.tar.xz"
rm -rf "$staging/tests"

# The runtime is the one this SDK runs on; the tarball is rebuilt only when that version changes.
# The CLI needs ASP.NET Core's shared framework too (the silo's dashboard), so both frameworks travel.
runtime_dir=$(ls -d "$dotnet_root"/shared/Microsoft.NETCore.App/* | sort -V | tail -1)
runtime_version=$(basename "$runtime_dir")
aspnet_version=$(basename "$(ls -d "$dotnet_root"/shared/Microsoft.AspNetCore.App/* | sort -V | tail -1)")
tarball="$staging/dotnet-runtime-$runtime_version-aspnet-$aspnet_version.tar.xz"
if [[ ! -f $tarball ]]; then
    echo "== pack .NET runtime $runtime_version + ASP.NET Core $aspnet_version -> $tarball"
    rm -f "$staging"/dotnet-runtime-*.tar.xz
    tar -C "$dotnet_root" -cJf "$tarball" dotnet host "shared/Microsoft.NETCore.App/$runtime_version" \
        "shared/Microsoft.AspNetCore.App/$aspnet_version"
fi

echo "== copy CUDA sources and scripts"
mkdir -p "$staging/kernels" "$staging/deploy"
cp -r "$repo/kernels/cuda" "$staging/kernels/cuda"
cp -r "$repo/deploy/gpu" "$staging/deploy/gpu"

size=$(du -sm "$staging" | cut -f1)
echo "== staged $size MiB in $staging (the device tool carries at most 64 MiB)"
if (( size >= 64 )); then
    echo "staging exceeds the 64 MiB carry limit" >&2
    exit 1
fi
echo "next: device run with carry [\".gpu\"] and command: bash .gpu/deploy/gpu/remote.sh"
