"""Distil a shallow draft from the target: k llama blocks over the target's frozen embedding/tied head.

Draft = target blocks 0..k-1 (as initialisation), the target's final norm (trainable) and an
`ffn_down` bias on the last block, initialised to mean(h_N) - mean(h_k) over training text: SmolLM2's
deep layers carry a large activation (dimension 17, ~500) that shallow stacks lack, and without the
bias the shallow draft's logits start far too sharp. The head is restricted to the first
--head-vocab token ids (the engine reads `mirrorsd.head_vocab` from the GGUF and computes only
those rows), which makes the draft's per-token cost a fraction of a full-vocabulary head.

Loss per labelled position: cross-entropy to the teacher's top-K distribution (restricted to the
head vocabulary, renormalised) plus --ce-weight x cross-entropy to the teacher's argmax. Positions
of a prompt weigh --prompt-weight, positions of labelled text (label.py's shards) --text-weight.
"""
import argparse
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from loop import next_batch, set_lr, train_step  # noqa: E402
from smollm import Llama, load_tensors  # noqa: E402


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the target GGUF")
    ap.add_argument("--train", required=True, action="append",
                    help="glob of training shards (gen.py's or label.py's); repeat for several")
    ap.add_argument("--heldout", required=True, help="glob of held-out shards (greedy target text)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--head-vocab", type=int, default=8192)
    ap.add_argument("--minutes", type=float, default=30, help="wall-clock budget; the lr schedule follows it")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch-tokens", type=int, default=2048)
    ap.add_argument("--ce-weight", type=float, default=0.5)
    ap.add_argument("--prompt-weight", type=float, default=0.25, help="loss weight of prompt positions")
    ap.add_argument("--text-weight", type=float, default=0.25, help="loss weight of labelled-text positions")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=float, default=5, help="minutes between held-out evaluations")
    ap.add_argument("--out", required=True, help="checkpoint path (.pt); the best held-out one is kept")
    return ap.parse_args()


def soft_targets(seq, V, device="cpu"):
    """Teacher probabilities over its top-K restricted to ids < V, renormalised: (ids, probs) [n, K]."""
    ids = torch.from_numpy(seq.top_ids.astype(np.int64))
    p = torch.exp(torch.from_numpy(seq.top_vals.astype(np.float32)) - torch.from_numpy(seq.lse)[:, None])
    keep = ids < V
    p = p * keep
    p = p / p.sum(-1, keepdim=True).clamp(min=1e-9)
    return ids.clamp(max=V - 1), p, keep[:, 0]


def is_text(seq):
    """label.py marks labelled text (no prompt, nothing generated) with temp = -1."""
    return seq.temp < 0


def seq_loss(model, seq, args):
    toks = torch.from_numpy(seq.tokens.astype(np.int64))
    n = len(toks)
    h = model.hidden(toks[None, :-1], torch.arange(n - 1)[None])[0]        # [n-1, d]
    logits = F.linear(h, model.embed[:args.head_vocab])
    logp = F.log_softmax(logits, -1)
    ids, p, top_in = soft_targets(seq, args.head_vocab)
    soft = -(p * logp.gather(1, ids)).sum(-1)
    hard = -logp.gather(1, ids[:, :1])[:, 0] * top_in
    if is_text(seq):
        w = torch.full((n - 1,), args.text_weight)
    else:
        w = torch.ones(n - 1)
        w[:seq.n_prompt - 1] = args.prompt_weight
    loss = ((soft + args.ce_weight * hard) * w).sum()
    if is_text(seq):
        return loss, w.sum().item(), 0, 0  # no generated positions to score
    with torch.no_grad():
        comp = slice(seq.n_prompt - 1, n - 1)
        agree = (logits[comp].argmax(-1) == torch.from_numpy(seq.top_ids[comp, 0].astype(np.int64))).sum().item()
    return loss, w.sum().item(), agree, n - seq.n_prompt


@torch.no_grad()
def evaluate(model, seqs, args, gamma=4):
    """Top-1 agreement with the target's greedy token along its greedy path, and mean tokens per
    target step at `gamma` (teacher-forced windows; the first token comes from prefill)."""
    agree = total = 0
    steps = tokens = 0
    for seq in seqs:
        toks = torch.from_numpy(seq.tokens.astype(np.int64))
        n = len(toks)
        h = model.hidden(toks[None, :-1], torch.arange(n - 1)[None])[0]
        pred = F.linear(h, model.embed[:args.head_vocab]).argmax(-1).numpy()
        match = pred[seq.n_prompt - 1:] == seq.tokens[seq.n_prompt:]
        agree += int(match.sum())
        total += len(match)
        i = 1
        while i < len(match):
            a = 0
            while a < gamma and i + a < len(match) and match[i + a]:
                a += 1
            steps += 1
            tokens += a + 1
            i += a + 1
    return agree / max(total, 1), tokens / max(steps, 1)


def init_bias(draft, teacher, seqs, k, n=24):
    """mean over tokens of (h_N - h_k), the residual streams before the final norm."""
    acc = torch.zeros(teacher.cfg.d)
    count = 0
    with torch.no_grad():
        for seq in seqs[:n]:
            toks = torch.from_numpy(seq.tokens.astype(np.int64))[None]
            pos = torch.arange(toks.shape[1])[None]
            cos, sin = teacher.rope_for(pos)
            x = F.embedding(toks, teacher.embed)
            hk = None
            for i, b in enumerate(teacher.blocks):
                x = b(x, cos, sin)
                if i == k - 1:
                    hk = x.clone()
            acc += (x - hk)[0].sum(0)
            count += toks.shape[1]
    return acc / count


def main():
    args = parse()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    cfg, tensors, _ = load_tensors(args.model)
    train, heldout = data.load_split(args.train, args.heldout)
    n_lab = sum(len(s.tokens) - 1 for s in train)
    n_comp = sum(len(s.tokens) - s.n_prompt for s in train if not is_text(s))
    n_text = sum(len(s.tokens) - 1 for s in train if is_text(s))
    print(f"train: {len(train)} sequences, {n_lab} labelled positions ({n_comp} generated, {n_text} of text); "
          f"held-out: {len(heldout)} greedy sequences", flush=True)

    teacher = Llama(cfg, tensors, max_pos=2048)
    draft = Llama(cfg, tensors, layers=range(args.layers), max_pos=2048)
    last = draft.blocks[-1]
    last.down_bias = torch.nn.Parameter(init_bias(draft, teacher, [s for s in train if not is_text(s)], args.layers))
    del teacher
    norm_params = [draft.out_norm, last.down_bias]
    block_params = [p for b in draft.blocks for n_, p in b.named_parameters() if n_ != "down_bias"]
    opt = torch.optim.AdamW([{"params": block_params, "lr": args.lr},
                             {"params": norm_params, "lr": args.lr * 30, "weight_decay": 0}],
                            lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    base = [g["lr"] for g in opt.param_groups]

    t0 = time.time()
    budget = args.minutes * 60
    a0, tps0 = evaluate(draft, heldout, args)
    print(f"[0.0 min] held-out top-1 {a0:.3f}, tokens/step@4 {tps0:.2f}", flush=True)
    best = (a0, 0.0)
    torch.save({"args": vars(args), "state": draft.state_dict(), "heldout_top1": a0, "minutes": 0}, args.out)
    curve = [{"minutes": 0, "epochs": 0, "positions": 0, "heldout_top1": a0, "tokens_per_step": tps0}]
    step, seen, next_eval, ema = 0, 0, args.eval_every * 60, None
    order = []
    while time.time() - t0 < budget:
        batch = next_batch(order, train, args.batch_tokens)
        set_lr(opt, base, step, (time.time() - t0) / budget)
        cur = train_step(opt, block_params + norm_params, batch, lambda s: seq_loss(draft, s, args))
        step += 1
        seen += sum(len(s.tokens) - 1 for s in batch)
        ema = cur if ema is None else tuple(0.95 * e + 0.05 * c for e, c in zip(ema, cur))
        el = time.time() - t0
        if el >= next_eval or el >= budget:
            next_eval += args.eval_every * 60
            acc, tps = evaluate(draft, heldout, args)
            ep = seen / n_lab
            curve.append({"minutes": round(el / 60, 2), "epochs": round(ep, 3), "positions": seen, "train_loss": round(ema[0], 4),
                          "train_top1": round(ema[1], 4), "heldout_top1": round(acc, 4), "tokens_per_step": round(tps, 3)})
            print(f"[{el / 60:.1f} min] epoch {ep:.2f}, {seen} positions ({seen / el:.0f}/s): train loss {ema[0]:.3f} "
                  f"top-1 {ema[1]:.3f} | held-out top-1 {acc:.3f}, tokens/step@4 {tps:.2f}", flush=True)
            if acc > best[0]:
                best = (acc, el / 60)
                torch.save({"args": vars(args), "state": draft.state_dict(), "heldout_top1": acc,
                            "minutes": el / 60, "curve": curve}, args.out)
    ck = torch.load(args.out)
    ck["curve"] = curve
    torch.save(ck, args.out)
    print(f"best held-out top-1 {best[0]:.3f} at {best[1]:.1f} min -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
