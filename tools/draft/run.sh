#!/usr/bin/env bash
# The whole draft recipe, start to finish, on this repository's 2-core machine (times in README.md).
# Usage: tools/draft/run.sh [WORKDIR]   (default /tmp/mirrorsd-draft; needs ~3 GB there and ~6 GB for the venv)
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${1:-/tmp/mirrorsd-draft}
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
VENV=${VENV:-$WORK/venv}
mkdir -p "$WORK/data"
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install -q -r tools/draft/requirements.txt; }
PY="$VENV/bin/python"
[ -x .build/release/mirror-sd ] || swift build -c release --product mirror-sd
[ -f "$MODEL" ] || ./models/fetch.sh

# 1. Split (written to tools/draft/split.json, committed) and prompts tokenized by the engine itself.
"$PY" tools/draft/split.py data/specbench/question.jsonl
"$PY" tools/draft/prompts.py train | .build/release/mirror-sd tokenize --jsonl --chat > "$WORK/prompts-train.jsonl"
"$PY" tools/draft/prompts.py heldout --per-task 5 | .build/release/mirror-sd tokenize --jsonl --chat > "$WORK/prompts-heldout.jsonl"

# 2. Teacher data: 3 answers per training prompt (greedy, T=0.7, T=1.0) with top-32 soft labels everywhere;
#    greedy answers to 30 held-out prompts for the training curves only.
"$PY" tools/draft/gen.py --model $MODEL --prompts "$WORK/prompts-train.jsonl" --out "$WORK/data/r1" \
    --batch-prompts 24 --temps 0,0.7,1.0 --max-new 192 --seed 1
"$PY" tools/draft/gen.py --model $MODEL --prompts "$WORK/prompts-heldout.jsonl" --out "$WORK/data/heldout" \
    --batch-prompts 30 --temps 0 --max-new 128 --seed 0

# 3. Two drafts trained side by side, one thread each.
"$PY" tools/draft/train.py --model $MODEL --train "$WORK/data/r1-*.npz" --heldout "$WORK/data/heldout-*.npz" \
    --layers 1 --head-vocab 8192 --minutes 40 --out "$WORK/small.pt" > "$WORK/train-small.log" 2>&1 &
"$PY" tools/draft/train.py --model $MODEL --train "$WORK/data/r1-*.npz" --heldout "$WORK/data/heldout-*.npz" \
    --layers 2 --head-vocab 16384 --minutes 40 --out "$WORK/large.pt" > "$WORK/train-large.log" 2>&1
wait

# 4. Export as Q8_0 GGUFs and measure with the engine.
mkdir -p models/drafts
"$PY" tools/draft/export.py --model $MODEL --checkpoint "$WORK/small.pt" --name "SmolLM2-135M draft small" \
    --out models/drafts/smollm2-135m-draft-small.q8_0.gguf
"$PY" tools/draft/export.py --model $MODEL --checkpoint "$WORK/large.pt" --name "SmolLM2-135M draft large" \
    --out models/drafts/smollm2-135m-draft-large.q8_0.gguf
.build/release/mirror-sd eval-draft --per-category 20 --timing
