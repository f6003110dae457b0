#!/usr/bin/env python3
"""Lens data from the torch teacher, in `mirror-sd lens-data`'s folder format, over gen.py's shards.

`mirror-sd lens-data` decodes each answer with the engine (about 22k rows per core-quarter-hour). The
draft recipe's shards (tools/draft/gen.py) already hold SmolLM2's own answers to the training split with
its top-32 logits at every position, so one causal forward per sequence adds the mid-stack hidden states:
several times the rows in the same time. The teacher (tools/draft/smollm.py) is the engine's fp32 model
in torch, 7.2e-5 from the reference logits; the head and norm written here are the same dequantized
tensors. Rows: every position but the last of each sequence, as lens-data writes them.

    teacher_data.py --model M --shards 'WORK/data/r1-*.npz' --layers 15,18,22,26 --out /tmp/lens-teacher
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "draft"))
import data  # noqa: E402
from export import fingerprint  # noqa: E402
from smollm import Llama, load_tensors, rms_norm  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--shards", required=True, help="glob of gen.py shards (training split only)")
    ap.add_argument("--layers", default="15,18,22,26", help="hidden states after these layers (1-based counts)")
    ap.add_argument("--max-rows", type=int, default=0, help="stop after this many rows (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    layers = [int(x) for x in a.layers.split(",")]
    cfg, tensors, _ = load_tensors(a.model)
    if any(not 1 <= l < cfg.n_layer for l in layers):
        sys.exit(f"--layers must be in 1..{cfg.n_layer - 1}")
    seqs = [s for p in sorted(glob.glob(a.shards)) for s in data.load(p)]
    split = json.load(open(os.path.join(here, "..", "draft", "split.json")))
    if {s.qid for s in seqs} & set(split["held_out"]):
        sys.exit("held-out questions in the shards: lens data must come from the training split")
    model = Llama(cfg, tensors, max_pos=2048).eval()
    os.makedirs(a.out, exist_ok=True)
    sinks = {}

    def write(name, arr):
        if name not in sinks:
            sinks[name] = open(os.path.join(a.out, name), "wb")
        sinks[name].write(np.ascontiguousarray(arr).tobytes())

    tensors["token_embd.weight"].numpy().astype(np.float32).tofile(os.path.join(a.out, "head.f32"))
    tensors["output_norm.weight"].numpy().astype(np.float32).tofile(os.path.join(a.out, "norm.f32"))
    rows = answer_rows = 0
    t0 = time.time()
    with torch.no_grad():
        for i, s in enumerate(seqs):
            toks = torch.from_numpy(s.tokens[:-1].astype(np.int64))[None]
            n = toks.shape[1]
            cos, sin = model.rope_for(torch.arange(n)[None])
            x = torch.nn.functional.embedding(toks, model.embed)
            for li, b in enumerate(model.blocks):
                x = b(x, cos, sin)
                if li + 1 in layers:
                    write(f"h{li + 1}.f16", x[0].to(torch.float16).numpy())
            write("final.f16", rms_norm(x[0], model.out_norm, cfg.eps).to(torch.float16).numpy())
            write("top.i32", s.top_ids.astype(np.int32))
            write("top.f32", s.top_vals.astype(np.float32))
            write("lse.f32", s.lse.astype(np.float32))
            write("answer.u8", (np.arange(n) >= s.n_prompt - 1).astype(np.uint8))
            rows += n
            answer_rows += n - (s.n_prompt - 1)
            if i % 50 == 0:
                print(f"[{i + 1}/{len(seqs)}] {rows} rows ({rows / (time.time() - t0):.0f}/s)", flush=True)
            if a.max_rows and rows >= a.max_rows:
                break
    for f in sinks.values():
        f.close()
    manifest = {"rows": rows, "answer_rows": answer_rows, "dim": cfg.d, "vocab": int(tensors["token_embd.weight"].shape[0]),
                "top_k": int(seqs[0].top_ids.shape[1]), "layers": layers, "fingerprint": fingerprint(a.model),
                "model": a.model, "questions": sorted({s.qid for s in seqs[:i + 1]}), "source": "tools/lens/teacher_data.py",
                "shards": a.shards, "norm_eps": cfg.eps}
    json.dump(manifest, open(os.path.join(a.out, "manifest.json"), "w"), indent=1)
    print(f"{rows} rows ({answer_rows} answer rows) from {i + 1} sequences in {a.out}, {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
