"""Train an EAGLE-style draft: one llama block that reads the target's own last hidden state.

The shallow drafts of train.py see only tokens, and plateau near 0.27 top-1 agreement with the target. The
target's last hidden state at position t (before the final norm) already decides the token at t+1; EAGLE
(Li et al., 2024) drafts the *next* hidden state from it and the next token's embedding, and reads tokens off
the target's own head. Row t of the draft holds (f_t, x_{t+1}):

    g_t  = W · [rms(f_t) ⊙ in_norm ; embed(x_{t+1})]        W: d × 2d
    y_t  = block(g_≤t)                                       one llama block, causal over rows, RoPE at t
    logits(x_{t+2}) = embed[:head_vocab] · (rms(y_t) ⊙ out_norm)

y_t is the draft's guess of f_{t+1}: when drafting, the rows past the last verified position read y in place
of the target's f (the input's rms makes the two interchangeable in scale). Training
therefore runs a second pass in which every row's feature is the first pass's prediction for it (a crude form
of EAGLE-3's training-time test), so the block learns from its own inputs too.

Loss per row: cross-entropy to the teacher's top-K at t+1 (restricted to the head, renormalised), plus
--ce-weight × CE to its argmax, plus --feat-weight × smooth-L1 between rms(y_t) and rms(f_{t+1}); prompt rows
weigh --prompt-weight. Data: gen.py shards written with --features.
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
from smollm import Block, load_tensors, rms_norm, rope_tables  # noqa: E402
from train import soft_targets  # noqa: E402


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the target GGUF")
    ap.add_argument("--train", required=True, action="append", help="glob of gen.py --features shards")
    ap.add_argument("--heldout", required=True, help="glob of held-out shards (greedy, with --features)")
    ap.add_argument("--init-block", type=int, default=0, help="the target block the draft's block starts from")
    ap.add_argument("--head-vocab", type=int, default=8192)
    ap.add_argument("--minutes", type=float, default=30, help="wall-clock budget; the lr schedule follows it")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--ce-weight", type=float, default=0.5)
    ap.add_argument("--feat-weight", type=float, default=1.0)
    ap.add_argument("--second-pass", type=float, default=1.0, help="weight of the pass that reads its own features")
    ap.add_argument("--prompt-weight", type=float, default=0.25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=float, default=5, help="minutes between held-out evaluations")
    ap.add_argument("--out", required=True, help="checkpoint path (.pt); the best held-out one is kept")
    return ap.parse_args()


class Eagle(torch.nn.Module):
    def __init__(self, cfg, tensors, init_block, head_vocab, max_pos=2048):
        super().__init__()
        P = torch.nn.Parameter
        self.cfg, self.head_vocab = cfg, head_vocab
        d = cfg.d
        self.embed = P(tensors["token_embd.weight"].clone(), requires_grad=False)
        self.in_norm = P(torch.ones(d))
        # Start as "embedding plus a little of the feature": the block then begins where block 0 of the target
        # does, on an embedding-sized input.
        emb_rms = self.embed.pow(2).mean().sqrt().item()
        self.fc = P(torch.cat([torch.eye(d) * emb_rms * 0.5, torch.eye(d)], 1))
        self.block = Block(cfg, tensors, init_block)
        self.out_norm = P(tensors["output_norm.weight"].clone())
        self.cos, self.sin = rope_tables(cfg.head_dim, cfg.theta, max_pos)

    def rows(self, feat, nxt):
        """feat [B, T, d] (raw or predicted hidden states), nxt [B, T] token ids -> block input [B, T, d]."""
        f = rms_norm(feat, self.in_norm, self.cfg.eps)
        return F.linear(torch.cat([f, F.embedding(nxt, self.embed)], -1), self.fc)

    def forward(self, feat, nxt, pos, cache=None, start=None, key_mask=None):
        """-> (y, the guess of the next feature [B, T, d]; head logits [B, T, head_vocab])."""
        cos, sin = self.cos[pos].unsqueeze(1), self.sin[pos].unsqueeze(1)
        y = self.block(self.rows(feat, nxt), cos, sin, cache, start, key_mask)
        return y, F.linear(rms_norm(y, self.out_norm, self.cfg.eps), self.embed[:self.head_vocab])


def seq_tensors(seq):
    toks = torch.from_numpy(seq.tokens.astype(np.int64))
    feat = torch.from_numpy(seq.feat.astype(np.float32))       # rows 0..n-2
    return toks, feat


def seq_loss(model, seq, args):
    toks, feat = seq_tensors(seq)
    n = len(toks)
    T = n - 2                                                  # rows 0..n-3 predict x_{t+2}
    if T < 1:
        return None
    pos = torch.arange(T)[None]
    ids, p, top_in = soft_targets(seq, args.head_vocab)
    ids, p, top_in = ids[1:T + 1], p[1:T + 1], top_in[1:T + 1]
    target_f = rms_norm(feat[1:T + 1], torch.ones(model.cfg.d), model.cfg.eps)
    w = torch.ones(T)
    w[:max(seq.n_prompt - 2, 0)] = args.prompt_weight

    def pass_loss(inp):
        fhat, logits = model(inp[None], toks[None, 1:T + 1], pos)
        logp = F.log_softmax(logits[0], -1)
        soft = -(p * logp.gather(1, ids)).sum(-1)
        hard = -logp.gather(1, ids[:, :1])[:, 0] * top_in
        yn = rms_norm(fhat[0], torch.ones(model.cfg.d), model.cfg.eps)   # scale-free, as the input reads it
        reg = F.smooth_l1_loss(yn, target_f, reduction="none").mean(-1)
        return ((soft + args.ce_weight * hard + args.feat_weight * reg) * w).sum(), fhat[0], logits[0]

    loss, fhat, logits = pass_loss(feat[:T])
    if args.second_pass > 0:
        # Row t reads the first pass's prediction of f_t (row 0 keeps the real one).
        own = torch.cat([feat[:1], fhat[:T - 1].detach()], 0)
        loss2, _, _ = pass_loss(own)
        loss = loss + args.second_pass * loss2
    with torch.no_grad():
        comp = slice(max(seq.n_prompt - 2, 0), T)
        agree = (logits[comp].argmax(-1) == ids[comp, 0]).sum().item()
    return loss, w.sum().item(), agree, T - comp.start


@torch.no_grad()
def rollout(model, seq, gamma=4):
    """Serial SD along the target's greedy path, as the engine would run it: after each verdict the draft reads
    the target's real features for the newly verified rows, then drafts `gamma` tokens from its own features.
    -> (teacher-forced top-1 matches, positions, windows, tokens)."""
    toks, feat = seq_tensors(seq)
    n, P = len(toks), seq.n_prompt
    cache = [(torch.zeros(1, model.cfg.n_kv, n + gamma + 1, model.cfg.head_dim),
              torch.zeros(1, model.cfg.n_kv, n + gamma + 1, model.cfg.head_dim))]
    tmax = n + gamma + 1

    def run(f, x, start):
        T = f.shape[0]
        mask = torch.ones(T, start + T, dtype=torch.bool).tril(diagonal=start)[None, None]
        fhat, logits = model(f[None], x[None], torch.arange(start, start + T)[None], cache[0], start, mask)
        return fhat[0], logits[0]

    m, done = P, 0          # tokens[m] is the last committed token (the first answer token comes from prefill)
    windows = produced = top1 = positions = 0
    while m < n - 1:
        fh, lg = run(feat[done:m], toks[done + 1:m + 1], done)     # real rows done..m-1
        done = m
        top1 += int(lg[-1].argmax().item() == toks[m + 1].item())
        positions += 1
        a = 0
        for k in range(gamma):
            guess = lg[-1].argmax()
            if m + 1 + k >= n or guess.item() != toks[m + 1 + k].item():
                break
            a += 1
            if k < gamma - 1 and m + k + 1 < tmax - 1:
                fh, lg = run(fh[-1:], guess.view(1), m + k)
        a = min(a, n - 1 - m)
        windows += 1
        produced += a + 1
        m += a + 1
    return top1, positions, windows, produced


def evaluate(model, seqs, gamma=4):
    t = p = w = k = 0
    for s in seqs:
        a, b, c, d = rollout(model, s, gamma)
        t += a; p += b; w += c; k += d
    return t / max(p, 1), k / max(w, 1)


def main():
    args = parse()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    cfg, tensors, _ = load_tensors(args.model)
    train, heldout = data.load_split(args.train, args.heldout, need_features=True)
    n_lab = sum(len(s.tokens) - 2 for s in train)
    print(f"train: {len(train)} sequences, {n_lab} rows; held-out: {len(heldout)} greedy sequences", flush=True)

    model = Eagle(cfg, tensors, args.init_block, args.head_vocab)
    del tensors
    params = [p for p in model.parameters() if p.requires_grad]
    fast = [model.in_norm, model.out_norm]
    slow = [p for p in params if all(p is not q for q in fast)]
    opt = torch.optim.AdamW([{"params": slow, "lr": args.lr}, {"params": fast, "lr": args.lr * 10, "weight_decay": 0}],
                            lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    base = [g["lr"] for g in opt.param_groups]

    t0 = time.time()
    budget = args.minutes * 60
    a0, tps0 = evaluate(model, heldout)
    print(f"[0.0 min] held-out top-1 {a0:.3f}, tokens/step@4 {tps0:.2f}", flush=True)
    curve = [{"minutes": 0, "epochs": 0, "positions": 0, "heldout_top1": a0, "tokens_per_step": tps0}]
    best = tps0
    torch.save({"args": vars(args), "state": model.state_dict(), "heldout_top1": a0, "tokens_per_step": tps0,
                "minutes": 0, "curve": curve}, args.out)
    step, seen, next_eval, ema = 0, 0, args.eval_every * 60, None
    order = []
    while time.time() - t0 < budget:
        batch = next_batch(order, train, args.batch_tokens)
        set_lr(opt, base, step, (time.time() - t0) / budget)
        cur = train_step(opt, params, batch, lambda s: seq_loss(model, s, args))
        step += 1
        seen += sum(len(s.tokens) - 2 for s in batch)
        ema = cur if ema is None else tuple(0.95 * e + 0.05 * c for e, c in zip(ema, cur))
        el = time.time() - t0
        if el >= next_eval or el >= budget:
            next_eval += args.eval_every * 60
            acc, tps = evaluate(model, heldout)
            ep = seen / n_lab
            curve.append({"minutes": round(el / 60, 2), "epochs": round(ep, 3), "positions": seen,
                          "train_loss": round(ema[0], 4), "train_top1": round(ema[1], 4),
                          "heldout_top1": round(acc, 4), "tokens_per_step": round(tps, 3)})
            print(f"[{el / 60:.1f} min] epoch {ep:.2f}, {seen} rows ({seen / el:.0f}/s): train loss {ema[0]:.3f} "
                  f"top-1 {ema[1]:.3f} | held-out top-1 {acc:.3f}, tokens/step@4 {tps:.2f}", flush=True)
            if tps > best:
                best = tps
                torch.save({"args": vars(args), "state": model.state_dict(), "heldout_top1": acc,
                            "tokens_per_step": tps, "minutes": el / 60, "curve": curve}, args.out)
    ck = torch.load(args.out)
    ck["curve"] = curve
    torch.save(ck, args.out)
    print(f"best held-out tokens/step@4 {best:.3f} -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
