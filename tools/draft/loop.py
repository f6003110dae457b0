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
