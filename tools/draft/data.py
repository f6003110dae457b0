"""Reading the shards gen.py writes: sequences of tokens with the teacher's top-K labels."""
import glob

import numpy as np


class Sequence:
    __slots__ = ("qid", "temp", "tokens", "n_prompt", "top_ids", "top_vals", "lse", "feat")

    def __init__(self, qid, temp, tokens, n_prompt, top_ids, top_vals, lse, feat=None):
        self.qid, self.temp, self.tokens, self.n_prompt = qid, temp, tokens, n_prompt
        self.top_ids, self.top_vals, self.lse = top_ids, top_vals, lse
        self.feat = feat  # the target's last hidden state before the final norm, if gen.py --features stored it


def load(pattern):
    seqs = []
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no shards match {pattern}")
    for path in paths:
        with np.load(path) as z:  # each z[key] decompresses the whole array again: read each once
            d = {k: z[k] for k in z.files}
        off = loff = 0
        for s in range(len(d["lengths"])):
            n = int(d["lengths"][s])
            if n < 2:
                raise ValueError(f"{path}: sequence {s} has {n} tokens")
            seqs.append(Sequence(int(d["qid"][s]), float(d["temp"][s]), d["tokens"][off:off + n],
                                 int(d["n_prompt"][s]), d["top_ids"][loff:loff + n - 1],
                                 d["top_vals"][loff:loff + n - 1], d["lse"][loff:loff + n - 1],
                                 d["feat"][loff:loff + n - 1] if "feat" in d else None))
            off += n
            loff += n - 1
        if off != len(d["tokens"]) or loff != len(d["lse"]) or ("feat" in d and loff != len(d["feat"])):
            raise ValueError(f"{path}: lengths do not add up")
    return seqs


def load_split(train_patterns, heldout_pattern, need_features=False):
    """Training and held-out sequences; refuses held-out questions among the training data (split.json) and,
    with `need_features`, shards gen.py wrote without --features."""
    import json
    import os
    train = [s for pattern in train_patterns for s in load(pattern)]
    heldout = load(heldout_pattern)
    if need_features and any(s.feat is None for s in train + heldout):
        raise SystemExit("a shard has no features: generate it with gen.py --features")
    split = json.load(open(os.path.join(os.path.dirname(__file__), "split.json")))
    leaked = {s.qid for s in train} & set(split["held_out"])
    if leaked:
        raise SystemExit(f"held-out questions in the training data: {sorted(leaked)[:10]}")
    return train, heldout
