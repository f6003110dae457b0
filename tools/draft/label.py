"""Label existing text with the teacher (fp32, or bf16 products with --bf16): top-K logits and the log-sum-exp at every position.

Input: JSONL of {id, ids} from `mirror-sd tokenize --jsonl` (no chat template: plain text, tokenized
exactly as the engine does). Each document is cut into chunks of --chunk tokens (a shorter tail is
kept if it has at least --min-chunk tokens); chunks of equal length share one causal forward, so
labelling costs a prefill, not a decode. Output: shards <out>-NNN.npz in gen.py's format with
temp = -1 and n_prompt = 0, which train.py reads as "labelled text" (weight --text-weight) and
qid = -1 - document index, which can never name a Spec-Bench question.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from gen import Shard, topk_rows  # noqa: E402
from smollm import Llama, load_tensors  # noqa: E402


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help="JSONL of {id, ids} from `mirror-sd tokenize --jsonl`")
    ap.add_argument("--out", required=True, help="output prefix, e.g. data/pydoc")
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--min-chunk", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8, help="chunks per forward")
    ap.add_argument("--shard-chunks", type=int, default=128)
    ap.add_argument("--max-positions", type=int, default=0, help="stop after this many labelled positions")
    ap.add_argument("--topk", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--from-end", action="store_true",
                    help="label the shards last to first; a second process with this flag and the same --out "
                         "works toward the first from the other end (existing shards are skipped)")
    ap.add_argument("--bf16", action="store_true",
                    help="matrix products in bfloat16 (autocast): ~4x faster where the CPU has AMX or AVX-512 BF16, "
                         "at a measured cost in label fidelity (README)")
    return ap.parse_args()


def chunks(docs, n, n_min):
    """(document index, ids) pieces of exactly n tokens, plus each document's tail if >= n_min."""
    out = []
    for d, ids in enumerate(docs):
        for i in range(0, len(ids), n):
            piece = ids[i:i + n]
            if len(piece) >= n_min:
                out.append((d, piece))
    return out


@torch.no_grad()
def label(model, batch, k, bf16=False):
    ids = torch.tensor([p for _, p in batch], dtype=torch.long)
    pos = torch.arange(ids.shape[1])[None].expand_as(ids)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        h = model.hidden(ids, pos)
        rows = []
        for b in range(len(batch)):  # one sequence's logits at a time: 8x less memory than the batch's
            rows.append(topk_rows(F.linear(h[b, :-1], model.embed).float(), k))
    return rows


def main():
    args = parse()
    if args.chunk < 2 or args.min_chunk < 2 or args.min_chunk > args.chunk:
        sys.exit("need 2 <= --min-chunk <= --chunk")
    torch.set_num_threads(args.threads)
    docs = []
    for n, line in enumerate(open(args.tokens), 1):
        if line.strip():
            rec = json.loads(line)
            if not isinstance(rec.get("ids"), list):
                sys.exit(f"{args.tokens}:{n}: no 'ids' list")
            docs.append(rec["ids"])
    pieces = chunks(docs, args.chunk, args.min_chunk)
    # Equal lengths batch together; full chunks keep document order, so --max-positions takes a prefix.
    pieces.sort(key=lambda p: -len(p[1]))
    total = sum(len(p) - 1 for _, p in pieces)
    print(f"{len(docs)} documents, {len(pieces)} chunks, {total} positions available", flush=True)
    cfg, tensors, _ = load_tensors(args.model)
    model = Llama(cfg, tensors, max_pos=args.chunk + 8).eval()
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    plan, covered = [], 0  # the shards within --max-positions, in order
    for shard_no, s in enumerate(range(0, len(pieces), args.shard_chunks)):
        if args.max_positions and covered >= args.max_positions:
            break
        part = pieces[s:s + args.shard_chunks]
        n_part = sum(len(p) - 1 for _, p in part)
        plan.append((shard_no, part, n_part))
        covered += n_part
    if args.from_end:
        plan.reverse()
    t0, done, fresh = time.time(), 0, 0
    for shard_no, part, n_part in plan:
        path = f"{args.out}-{shard_no:03d}.npz"
        if os.path.exists(path):  # resumable, and two processes can share the work from both ends
            done += n_part
            continue
        shard = Shard()
        i = 0
        while i < len(part):
            j = i + 1
            while j < len(part) and j - i < args.batch and len(part[j][1]) == len(part[i][1]):
                j += 1
            for (d, piece), (ti, tv, tl) in zip(part[i:j], label(model, part[i:j], args.topk, args.bf16)):
                shard.add(-1 - d, -1.0, piece, 0, ti, tv, tl)
            i = j
        partial = os.path.join(os.path.dirname(path), "." + os.path.basename(path))  # hidden from the shard glob
        shard.save(partial)
        os.replace(partial, path)  # a shard that exists is complete
        done += n_part
        fresh += n_part
        dt = time.time() - t0
        print(f"[shard {shard_no}] {done} of {covered} positions ({fresh / dt:.0f}/s here), {dt / 60:.1f} min",
              flush=True)


if __name__ == "__main__":
    main()
