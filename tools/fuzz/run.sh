#!/usr/bin/env bash
# Builds the libFuzzer targets (Swift's -sanitize=fuzzer,address) and runs each for SECONDS (default 60).
#   tools/fuzz/run.sh [SECONDS] [TARGET...]      targets: gguf model tokenizer chat openai (default: all)
# Corpora and findings go to $MIRRORSD_FUZZ_DIR (default /tmp/mirrorsd-fuzz). A crash, a sanitizer
# report or a hang stops the run with a non-zero exit; the input is saved as crash-*/timeout-* there.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-60}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(gguf model tokenizer chat openai)
dir="${MIRRORSD_FUZZ_DIR:-/tmp/mirrorsd-fuzz}"
bin="$dir/bin"
mkdir -p "$bin"
python3 tools/fuzz/seeds.py models/SmolLM2-135M-Instruct.Q4_1.gguf "$dir" >/dev/null
flags=(-O -sanitize=fuzzer,address -parse-as-library)
echo "building fuzz targets..."
swiftc "${flags[@]}" -module-name GGUF -emit-module -emit-module-path "$bin/GGUF.swiftmodule" \
  -emit-library -static -o "$bin/libGGUF.a" Sources/GGUF/*.swift
# A Swift module as a static library, against the modules already built in $bin.
swiftlib() {
  local name="$1"
  swiftc "${flags[@]}" -module-name "$name" -emit-module -emit-module-path "$bin/$name.swiftmodule" \
    -I "$bin" -I "$bin/ckernels" -emit-library -static -o "$bin/lib$name.a" "Sources/$name"/*.swift
}
# ld.gold warns once per ASan helper symbol (564 lines a CI run); the warnings say nothing, errors still show.
quiet_gold() {
  "$@" 2>"$bin/link.log" || { cat "$bin/link.log" >&2; return 1; }
  grep -v "Cannot export local symbol" "$bin/link.log" >&2 || true
}
# The model target needs the C kernels (with ASan, without fuzzer coverage) and the model's modules.
build_model_stack() {
  local blas_cflags
  blas_cflags="$(pkg-config --cflags openblas)"
  mkdir -p "$bin/ckernels"
  printf 'module CKernels {\n  header "%s/CKernels/include/CKernels.h"\n  export *\n}\n' "$PWD" \
    >"$bin/ckernels/module.modulemap"
  rm -f "$bin/libCKernels.a"
  for c in CKernels/*.c; do
    clang -O2 -fPIC -fsanitize=address $blas_cflags -I CKernels/include -c "$c" -o "$bin/ckernels/$(basename "$c" .c).o"
  done
  ar rcs "$bin/libCKernels.a" "$bin"/ckernels/*.o
  for m in TensorCore Compute BackendBLAS BackendQuantized LanguageModels Llama; do swiftlib "$m"; done
}
for t in "${targets[@]}"; do
  case "$t" in
    gguf) quiet_gold swiftc "${flags[@]}" -module-name FuzzGGUF Sources/GGUF/*.swift tools/fuzz/gguf.swift -o "$bin/fuzz-gguf" ;;
    model) build_model_stack
           quiet_gold swiftc "${flags[@]}" -module-name FuzzModel -I "$bin" -I "$bin/ckernels" -L "$bin" tools/fuzz/model.swift \
             -lLlama -lLanguageModels -lBackendQuantized -lBackendBLAS -lCompute -lTensorCore -lGGUF -lCKernels \
             $(pkg-config --libs openblas) -lm -lpthread -o "$bin/fuzz-model" ;;
    tokenizer) quiet_gold swiftc "${flags[@]}" -module-name FuzzTokenizer -I "$bin" -L "$bin" -lGGUF Sources/Tokenizer/*.swift \
                 tools/fuzz/tokenizer.swift -o "$bin/fuzz-tokenizer" ;;
    chat) quiet_gold swiftc "${flags[@]}" -module-name FuzzChat -I "$bin" -L "$bin" -lGGUF Sources/Tokenizer/*.swift \
            tools/fuzz/chat.swift -o "$bin/fuzz-chat" ;;
    openai) quiet_gold swiftc "${flags[@]}" -module-name FuzzOpenAI Sources/OpenAIAPI/*.swift tools/fuzz/openai.swift -o "$bin/fuzz-openai" ;;
    *) echo "error: unknown fuzz target '$t' (gguf, model, tokenizer, chat, openai)" >&2; exit 2 ;;
  esac
done
status=0
for t in "${targets[@]}"; do
  corpus="$dir/$t-corpus"; mkdir -p "$corpus"
  maxlen=4096; [ "$t" = gguf ] && maxlen=1048576; [ "$t" = model ] && maxlen=65536
  echo "fuzzing $t for ${secs}s (corpus $corpus)..."
  if ! "$bin/fuzz-$t" "$corpus" "$dir/$t" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 \
       -rss_limit_mb=4096 -artifact_prefix="$dir/$t-" -print_final_stats=1 >"$dir/$t.log" 2>&1; then
    echo "error: fuzz target $t failed; see $dir/$t.log and $dir/$t-*" >&2
    tail -30 "$dir/$t.log" >&2
    status=1
  fi
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$dir/$t.log" | tail -2
  echo "$t corpus: $(ls "$corpus" | wc -l) inputs"
done
exit $status
