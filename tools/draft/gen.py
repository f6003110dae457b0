"""Batched generation with the fp32 teacher: the target's own text plus its soft labels.

For each prompt, S sequences are generated from one shared prefill: the first greedy, the rest
sampled at the given temperatures. At every position (prompt and completion) the teacher's top-K
logits and the log-sum-exp of all its logits are stored, so training can use the target's
distribution, not just its tokens. Output: shards data/<name>-NNN.npz (see `save_shard`).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from smollm import Llama, load_tensors  # noqa: E402

EOS = 2


def parse():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompts", required=True, help="JSONL of {id, ids} from `mirror-sd tokenize --jsonl --chat`")
    ap.add_argument("--out", required=True, help="output prefix, e.g. data/train")
    ap.add_argument("--temps", default="0,0.7,1.0", help="one sequence per entry; 0 = greedy")
    ap.add_argument("--max-new", type=int, default=192)
    ap.add_argument("--max-prompt", type=int, default=768, help="longer prompts keep their first 2/3 and last 1/3")
    ap.add_argument("--batch-prompts", type=int, default=16)
    ap.add_argument("--topk", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="only the first N prompts (smoke runs)")
    ap.add_argument("--features", action="store_true",
                    help="also store the last block's output before the final norm (fp16) at every labelled "
                         "position, for drafts that read the target's hidden state (tools/draft/eagle.py)")
    return ap.parse_args()


def clip(ids, n):
    if len(ids) <= n:
        return ids
    head = (2 * n) // 3
    return ids[:head] + ids[len(ids) - (n - head):]


class Shard:
    def __init__(self):
        self.tokens, self.n_prompt, self.ids, self.vals, self.lse, self.qid, self.temp = [], [], [], [], [], [], []
        self.feat = []

    def add(self, qid, temp, tokens, n_prompt, ids, vals, lse, feat=None):
        self.qid.append(qid); self.temp.append(temp); self.tokens.append(np.asarray(tokens, np.int32))
        self.n_prompt.append(n_prompt); self.ids.append(ids); self.vals.append(vals); self.lse.append(lse)
        if feat is not None:
            self.feat.append(feat)

    def save(self, path):
        lens = np.array([len(t) for t in self.tokens], np.int64)
        extra = {"feat": np.concatenate(self.feat)} if self.feat else {}
        np.savez(path, qid=np.array(self.qid, np.int64), temp=np.array(self.temp, np.float32),
                 lengths=lens, n_prompt=np.array(self.n_prompt, np.int64),
                 tokens=np.concatenate(self.tokens),
                 # labels (and features) for positions 0..len-2 of each sequence (the next-token distribution)
                 top_ids=np.concatenate(self.ids), top_vals=np.concatenate(self.vals), lse=np.concatenate(self.lse),
                 **extra)


def topk_rows(logits, k):
    v, i = logits.topk(k, dim=-1)
    return i.to(torch.int32).numpy(), v.to(torch.float16).numpy(), torch.logsumexp(logits, -1).numpy().astype(np.float32)


@torch.no_grad()
def run_batch(model, prompts, temps, args, gen):
    P, S = len(prompts), len(temps)
    lens = [len(p["ids"]) for p in prompts]
    T = max(lens)
    tmax = T + args.max_new
    ids = torch.full((P, T), EOS, dtype=torch.long)
    pad = torch.tensor([T - n for n in lens])
    for b, p in enumerate(prompts):
        ids[b, pad[b]:] = torch.tensor(p["ids"])
    pos = (torch.arange(T)[None, :] - pad[:, None]).clamp(min=0)
    keys = torch.arange(tmax)
    valid = keys[None, :] >= pad[:, None]                           # [P, tmax], False on left padding
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    mask = (causal[None] & valid[:, None, :T]).unsqueeze(1)         # [P, 1, T, T]
    # Left-pad query rows attend to nothing; give them their own slot so softmax stays finite.
    mask = mask | torch.eye(T, dtype=torch.bool)[None, None]
    cache = model.new_cache(P, tmax)
    logits, hid = model.step(ids, pos, cache, 0, mask, with_hidden=True)   # [P, T, V], [P, T, d]
    prompt_labels = [topk_rows(logits[b, pad[b]:T - 1], args.topk) for b in range(P)]
    prompt_feat = [hid[b, pad[b]:T - 1].to(torch.float16).numpy() for b in range(P)]
    last, last_h = logits[:, -1], hid[:, -1]
    # Expand the prompt cache to S sequences per prompt.
    cache = [(k.repeat_interleave(S, 0).contiguous(), v.repeat_interleave(S, 0).contiguous()) for k, v in cache]
    valid = valid.repeat_interleave(S, 0)
    last, last_h = last.repeat_interleave(S, 0), last_h.repeat_interleave(S, 0)
    pos_next = torch.tensor(lens).repeat_interleave(S, 0)
    temp = torch.tensor(temps * P, dtype=torch.float32)
    B = P * S
    out_tok = [[] for _ in range(B)]
    out_lab = [[] for _ in range(B)]
    out_feat = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool)
    for step in range(args.max_new):
        li, lv, ll = topk_rows(last, args.topk)
        greedy = last.argmax(-1)
        probs = torch.softmax(last / temp.clamp(min=1e-3)[:, None], -1)
        sampled = torch.multinomial(probs, 1, generator=gen)[:, 0]
        nxt = torch.where(temp > 0, sampled, greedy)
        for b in range(B):
            if not done[b]:
                out_tok[b].append(int(nxt[b])); out_lab[b].append((li[b], lv[b], ll[b]))
                if args.features:
                    out_feat[b].append(last_h[b].to(torch.float16).numpy())
        done |= nxt == EOS
        if bool(done.all()) or step == args.max_new - 1:
            break
        slot = T + step
        m = valid[:, :slot + 1].clone()
        m[:, slot] = True
        last, last_h = model.step(nxt[:, None], pos_next[:, None], cache, slot, m[:, None, None, :], with_hidden=True)
        last, last_h = last[:, 0], last_h[:, 0]
        pos_next = pos_next + 1
    results = []
    for b in range(B):
        p = prompts[b // S]
        pi, pv, pl = prompt_labels[b // S]
        ci = np.stack([x[0] for x in out_lab[b]]); cv = np.stack([x[1] for x in out_lab[b]])
        cl = np.array([x[2] for x in out_lab[b]], np.float32)
        tokens = list(p["ids"]) + out_tok[b]
        # Labels for positions 0..len-2: prompt positions 0..n-2, then n-1.. from decoding
        # (the last generated token has no label; the label count is len-1).
        ids_ = np.concatenate([pi, ci])[:len(tokens) - 1]
        vals = np.concatenate([pv, cv])[:len(tokens) - 1]
        lse = np.concatenate([pl, cl])[:len(tokens) - 1]
        feat = np.concatenate([prompt_feat[b // S], np.stack(out_feat[b])])[:len(tokens) - 1] if args.features else None
        results.append((p["id"], temps[b % S], tokens, len(p["ids"]), ids_, vals, lse, feat))
    return results


def main():
    args = parse()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    temps = [float(t) for t in args.temps.split(",")]
    cfg, tensors, _ = load_tensors(args.model)
    model = Llama(cfg, tensors, max_pos=args.max_prompt + args.max_new + 8).eval()
    prompts = []
    for line in open(args.prompts):
        if line.strip():
            p = json.loads(line)
            p["ids"] = clip(p["ids"], args.max_prompt)
            prompts.append(p)
    if args.limit:
        prompts = prompts[:args.limit]
    prompts.sort(key=lambda p: len(p["ids"]))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    t0, n_gen, n_lab = time.time(), 0, 0
    for shard_no, i in enumerate(range(0, len(prompts), args.batch_prompts)):
        path = f"{args.out}-{shard_no:03d}.npz"
        if os.path.exists(path):
            continue  # resumable
        shard = Shard()
        for r in run_batch(model, prompts[i:i + args.batch_prompts], temps, args, gen):
            shard.add(*r)
            n_gen += len(r[2]) - r[3]; n_lab += len(r[4])
        shard.save(path)
        dt = time.time() - t0
        print(f"[{min(i + args.batch_prompts, len(prompts))}/{len(prompts)} prompts] {n_gen} generated "
              f"({n_gen / dt:.0f} tok/s), {n_lab} labelled positions, {dt / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
