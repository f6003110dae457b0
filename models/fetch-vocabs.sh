#!/usr/bin/env bash
# Fetch llama.cpp's tokenizer test vocabularies (ggml-vocab-llama-spm and ggml-vocab-gpt-2, with their
# .inp/.out vectors, MIT-licensed) from the PyPI sdist llama-cpp-python==0.3.36, verify sha256, and
# place them in models/vocab/ (git-ignored). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/vocab"
mkdir -p "$dest"
sums="16c3724582d59aa8bf84711894e833f916ee46a31d80e21312759c48bf8d0e69  ggml-vocab-llama-spm.gguf
be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0  ggml-vocab-llama-spm.gguf.inp
ad6905c925c49c022974fe67e030382e8a4f56eb4489a0b9481dcedb1ec73b29  ggml-vocab-llama-spm.gguf.out
cedc56ca6e2e89f63e781696d1fd76b4b1d49e6720dee86463e915f6e90016ac  ggml-vocab-gpt-2.gguf
be0a11f7071f0c67d3053a2d377d8f35f0dbcb77ff11a60300fb57d36b477cf0  ggml-vocab-gpt-2.gguf.inp
48e8c4cb3ad5c37915b225f872222567c1c4dd4d66951aa53460c8d152ff6d60  ggml-vocab-gpt-2.gguf.out"

if (cd "$dest" && echo "$sums" | sha256sum --check --status 2>/dev/null); then
  echo "models/vocab: present, sha256 verified"
  exit 0
fi
command -v python3 >/dev/null 2>&1 || { echo "error: python3 is needed" >&2; exit 2; }
python3 -m pip --version >/dev/null 2>&1 || { echo "error: pip is not installed (apt-get install python3-pip)" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "downloading the llama-cpp-python==0.3.36 sdist from PyPI (77 MB) for its test vocabularies..."
if ! python3 -m pip download --no-deps --no-binary llama-cpp-python -d "$tmp" "llama-cpp-python==0.3.36" >"$tmp/pip.log" 2>&1; then
  cat "$tmp/pip.log" >&2
  echo "error: pip could not download llama-cpp-python==0.3.36 (is PyPI reachable?)" >&2
  exit 3
fi
tar xzf "$tmp"/llama_cpp_python-0.3.36.tar.gz -C "$tmp" --wildcards \
  '*/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf*' '*/vendor/llama.cpp/models/ggml-vocab-gpt-2.gguf*'
cp "$tmp"/llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-{llama-spm,gpt-2}.gguf* "$dest/"
if ! (cd "$dest" && echo "$sums" | sha256sum --check --quiet); then
  echo "error: sha256 mismatch in models/vocab" >&2
  exit 4
fi
echo "models/vocab: fetched, sha256 verified"
