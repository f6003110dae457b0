"""The training loop's shared pieces for train.py and eagle.py: token-budget batches and the lr schedule."""
import math
import random


def next_batch(order, seqs, batch_tokens):
    """Sequences until `batch_tokens` tokens, popped from `order` (refilled with a fresh shuffle when empty)."""
    if not order:
        order.extend(range(len(seqs)))
        random.shuffle(order)
    batch, ntok = [], 0
    while order and ntok < batch_tokens:
        s = seqs[order.pop()]
        batch.append(s)
        ntok += len(s.tokens)
    return batch


def set_lr(opt, base, step, frac):
    """20 warm-up steps, then a cosine over the wall-clock budget (`frac` of it spent) down to 10 %."""
    warm = min(1.0, (step + 1) / 20)
    for g, b in zip(opt.param_groups, base):
        g["lr"] = b * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def train_step(opt, params, batch, loss_fn):
    """One optimiser step over `batch`: loss_fn(seq) -> (loss, weight, agreed, scored) or None to skip a
    sequence; gradients are averaged over the summed weight and clipped to norm 1. -> (mean loss, top-1)."""
    import torch
    opt.zero_grad(set_to_none=True)
    tot_w = agree = comp = 0
    losses = 0.0
    for s in batch:
        r = loss_fn(s)
        if r is None:
            continue
        loss, w, a, c = r
        loss.backward()
        losses += loss.item()
        tot_w += w; agree += a; comp += c
    for p in params:
        if p.grad is not None:
            p.grad /= max(tot_w, 1)
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return losses / max(tot_w, 1), agree / max(comp, 1)
