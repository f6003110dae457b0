#!/usr/bin/env bash
# One-time setup on a fresh machine: system packages, the model, the tokenizer test vocabularies,
# a release build; then (unless --no-run) a Mirror-SD generation on the default model (the target on the
# fp32 backend, the same file on the int8 backend as the draft; see docs/modes-and-drafts.md for the draft choices).
set -euo pipefail
cd "$(dirname "$0")/.."

run=1
[ "${1:-}" = "--no-run" ] && run=0

need_apt=()
pkg-config --exists openblas 2>/dev/null || need_apt+=(libopenblas-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} (apt)..."
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

./models/fetch.sh
[ -x models/fetch-vocabs.sh ] && ./models/fetch-vocabs.sh

if [ "$run" = 1 ]; then
  echo "building (release)..."
  swift build -c release --product mirror-sd 2>&1 | tail -1
  .build/release/mirror-sd generate --mode mirror --chat -n 64 --prompt "Give three tips for writing clear code."
fi
