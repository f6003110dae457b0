#!/usr/bin/env python3
"""Train tuned exit lenses for a target from `mirror-sd lens-data` folders and write them as one GGUF.

The lens for layer L maps u = h_L / rms(h_L) to w * rms_norm(A u + b) before the target's frozen head
(w: its final norm weight); A = I, b = 0 is the raw logit lens. A and b start from the closed-form
least-squares fit to the target's final-normed hidden state (1/w folded in), then train by Adam on
cross-entropy to the target's top-32 distribution plus 0.5 x cross-entropy to its argmax, the softmax
over ids 0..16383 and every top-32 id of the batch (the evaluation, `mirror-sd eval-lens`, uses the
whole head), with decoupled weight decay toward the least-squares fit. Every `--val-every`-th block of
1,024 rows (whole prompts, mostly) is kept out as a validation set; the weights with the best
validation Omega_4 over answer rows are the ones written, so a long budget cannot overfit.
numpy only; seeded; runs on 2 cores in a few minutes per layer.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np


def load(dirs):
    parts = []
    for d in dirs:
        m = json.load(open(os.path.join(d, "manifest.json")))
        parts.append((d, m))
    m0 = parts[0][1]
    for d, m in parts[1:]:
        if m["fingerprint"] != m0["fingerprint"] or m["layers"] != m0["layers"]:
            sys.exit(f"{d}: another target or other layers than {parts[0][0]}")
    dim, vocab, k = m0["dim"], m0["vocab"], m0["top_k"]

    def cat(name, dtype, width):
        arrs = []
        for d, m in parts:
            a = np.fromfile(os.path.join(d, name), dtype=dtype)
            if a.size != m["rows"] * width:
                sys.exit(f"{d}/{name}: {a.size} values, expected {m['rows']} rows x {width}")
            arrs.append(a.reshape(m["rows"], width))
        return np.concatenate(arrs)

    data = {
        "h": {l: cat(f"h{l}.f16", np.float16, dim) for l in m0["layers"]},
        "final": cat("final.f16", np.float16, dim),
        "top_ids": cat("top.i32", np.int32, k),
        "top_logits": cat("top.f32", np.float32, k),
        "answer": cat("answer.u8", np.uint8, 1)[:, 0].astype(bool),
    }
    head = np.fromfile(os.path.join(parts[0][0], "head.f32"), dtype=np.float32).reshape(vocab, dim)
    norm = np.fromfile(os.path.join(parts[0][0], "norm.f32"), dtype=np.float32)
    return m0, parts, data, head, norm


def unit_rms(h, eps):
    h = h.astype(np.float32)
    return h / np.sqrt((h * h).mean(axis=1, keepdims=True) + eps)


def lsq(u, z):
    """A, b minimising |A u + b - z|^2 over rows (float64 normal equations with a tiny ridge)."""
    x = np.concatenate([u.astype(np.float64), np.ones((len(u), 1))], axis=1)
    g = x.T @ x
    g[np.diag_indices_from(g)] += 1e-6 * np.trace(g) / len(g)
    sol = np.linalg.solve(g, x.T @ z.astype(np.float64))
    return sol[:-1].T.astype(np.float32), sol[-1].astype(np.float32)


def train(u, top_ids, top_logits, head, norm, a, b, eps, seconds, batch, lr, decay, rng, log, pick, score):
    """Adam from (a, b); `pick(batch)` draws row indices, `score(a, b)` is the validation figure to maximise."""
    n, dim = u.shape
    a0, b0 = a.copy(), b.copy()
    best = (score(a, b), a.copy(), b.copy(), 0)
    base = np.arange(min(16384, len(head)))
    mt, vt = [np.zeros_like(a), np.zeros_like(b)], [np.zeros_like(a), np.zeros_like(b)]
    b1, b2 = 0.9, 0.95
    t0 = time.time()
    step = 0
    while time.time() - t0 < seconds:
        step += 1
        frac = min(1.0, (time.time() - t0) / seconds)
        rate = lr * min(1.0, step / 10) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
        idx = pick(batch)
        ub, ti, tl = u[idx], top_ids[idx], top_logits[idx]
        vocab = np.union1d(base, ti.ravel())
        pos = np.searchsorted(vocab, ti)
        e = head[vocab]
        v = ub @ a.T + b
        r = np.sqrt((v * v).mean(axis=1, keepdims=True) + eps)
        nv = v / r
        logits = (nv * norm) @ e.T
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        q = np.exp(tl - tl.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
        rows = np.arange(batch)[:, None]
        logp = np.log(p[rows, pos] + 1e-30)
        loss = -(q * logp).sum(axis=1).mean() - 0.5 * logp[:, 0].mean()
        g = 1.5 * p
        np.subtract.at(g, (np.repeat(np.arange(batch), ti.shape[1]), pos.ravel()), q.ravel())
        g[np.arange(batch), pos[:, 0]] -= 0.5
        g /= batch
        dn = (g @ e) * norm
        dv = (dn - nv * (dn * nv).mean(axis=1, keepdims=True)) / r
        grads = [dv.T @ ub, dv.sum(axis=0)]
        gnorm = np.sqrt(sum(float((x * x).sum()) for x in grads))
        if gnorm > 1.0:
            grads = [x / gnorm for x in grads]
        for i, (param, grad) in enumerate(zip((a, b), grads)):
            mt[i] = b1 * mt[i] + (1 - b1) * grad
            vt[i] = b2 * vt[i] + (1 - b2) * grad * grad
            mh, vh = mt[i] / (1 - b1 ** step), vt[i] / (1 - b2 ** step)
            param -= rate * mh / (np.sqrt(vh) + 1e-8)
        a -= rate * decay * (a - a0)
        b -= rate * decay * (b - b0)
        if step % 25 == 0:
            val = score(a, b)
            if val > best[0]:
                best = (val, a.copy(), b.copy(), step)
            log(f"    step {step}: loss {loss:.3f}, validation Ω4 {val:.3f}, lr {rate:.2e}, {time.time() - t0:.0f} s")
    val = score(a, b)
    if val > best[0]:
        best = (val, a.copy(), b.copy(), step)
    return best[1], best[2], step, best[3], best[0]


def omega(u, y, head, norm, a, b, eps, kappas=(1, 2, 4, 8)):
    """Share of rows whose label is in the lens's top-k (whole head), for a quick check on training data."""
    hits = np.zeros(len(kappas))
    for s in range(0, len(u), 512):
        v = u[s:s + 512] @ a.T + b
        v = v / np.sqrt((v * v).mean(axis=1, keepdims=True) + eps) * norm
        logits = v @ head.T
        top = np.argpartition(-logits, max(kappas), axis=1)[:, :max(kappas)]
        order = np.take_along_axis(logits, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)
        for i, k in enumerate(kappas):
            hits[i] += (top[:, :k] == y[s:s + 512, None]).any(axis=1).sum()
    return hits / len(u)


# GGUF v3, only what a lens file needs.
def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, meta, tensors):
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
    for key, (kind, value) in meta.items():
        out += gguf_string(key)
        if kind == "str":
            out += struct.pack("<I", 8) + gguf_string(value)
        elif kind == "u32":
            out += struct.pack("<II", 4, value)
        elif kind == "i32[]":
            out += struct.pack("<IIQ", 9, 5, len(value)) + b"".join(struct.pack("<i", v) for v in value)
    offset = 0
    blobs = []
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        out += gguf_string(name) + struct.pack("<I", arr.ndim)
        out += b"".join(struct.pack("<Q", d) for d in reversed(arr.shape))  # ggml order: fastest first
        out += struct.pack("<IQ", 0, offset)  # type F32
        blobs.append(arr.tobytes())
        offset += (len(blobs[-1]) + 31) // 32 * 32
    out += b"\0" * ((-len(out)) % 32)
    for blob in blobs:
        out += blob + b"\0" * ((-len(blob)) % 32)
    with open(path, "wb") as f:
        f.write(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="lens-data folders (same target and layers)")
    ap.add_argument("--out", required=True, help="the lens GGUF to write")
    ap.add_argument("--layers", help="comma-separated subset of the recorded layers (default: all)")
    ap.add_argument("--seconds", type=float, default=150, help="KL training budget per layer (0: least squares only)")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--decay", type=float, default=0.0, help="decoupled weight decay toward the least-squares fit")
    ap.add_argument("--answer-share", type=float, default=0.0,
                    help="share of each batch drawn from answer rows (0: uniform over all rows)")
    ap.add_argument("--val-every", type=int, default=8, help="every N-th block of 1,024 rows is validation (0: none)")
    ap.add_argument("--target-name", default="SmolLM2-135M-Instruct")
    a = ap.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731

    m, parts, data, head, norm = load(a.data)
    eps = float(m.get("norm_eps", 1e-5))
    layers = [int(x) for x in a.layers.split(",")] if a.layers else m["layers"]
    for l in layers:
        if l not in m["layers"]:
            sys.exit(f"layer {l} was not recorded (recorded: {m['layers']})")
    if not 0 <= a.answer_share <= 1:
        sys.exit("--answer-share must be in [0, 1]")
    rng = np.random.default_rng(a.seed)
    z = data["final"].astype(np.float32)
    y = data["top_ids"][:, 0]
    n = len(z)
    block = np.arange(n) // 1024
    val = (block % a.val_every == a.val_every - 1) if a.val_every > 0 else np.zeros(n, dtype=bool)
    fit = np.flatnonzero(~val)
    fit_answer = np.flatnonzero(~val & data["answer"])
    val_answer = np.flatnonzero(val & data["answer"])
    log(f"{n} rows ({int(data['answer'].sum())} answer rows) from {len(parts)} folder(s); layers {layers}; "
        f"validation: {int(val.sum())} rows, {len(val_answer)} answer rows")

    def pick(batch):
        k = int(round(batch * a.answer_share)) if len(fit_answer) else 0
        return np.concatenate([rng.choice(fit, batch - k), rng.choice(fit_answer, k)]) if k else rng.choice(fit, batch)

    tensors, report = [], {}
    eye, zero = np.eye(len(norm), dtype=np.float32), np.zeros_like(norm)
    for l in layers:
        u = unit_rms(data["h"][l], eps)
        t0 = time.time()
        a0, b0 = lsq(u[fit], z[fit])
        # From z = A u + b to w * rms_norm(A' u + b'): fold 1/w in.
        a1, b1 = a0 / norm[:, None], b0 / norm
        log(f"  layer {l}: least squares in {time.time() - t0:.1f} s")
        score = (lambda a_, b_: float(omega(u[val_answer], y[val_answer], head, norm, a_, b_, eps, (4,))[0])) \
            if len(val_answer) else (lambda a_, b_: 0.0)
        steps, best_step, best = 0, 0, score(a1, b1)
        if a.seconds > 0:
            a1, b1, steps, best_step, best = train(u, data["top_ids"], data["top_logits"], head, norm, a1, b1, eps,
                                                   a.seconds, a.batch, a.lr, a.decay, rng, log, pick, score)
        check = rng.choice(fit, min(len(fit), 4096), replace=False)
        om = omega(u[check], y[check], head, norm, a1, b1, eps)
        raw = omega(u[check], y[check], head, norm, eye, zero, eps)
        entry = {"steps": steps, "best_step": best_step, "train_omega_raw": raw.tolist(), "train_omega_lens": om.tolist()}
        if len(val_answer):
            entry["val_omega_raw"] = omega(u[val_answer], y[val_answer], head, norm, eye, zero, eps).tolist()
            entry["val_omega_lens"] = omega(u[val_answer], y[val_answer], head, norm, a1, b1, eps).tolist()
        log(f"  layer {l}: {steps} steps, kept step {best_step}; training rows Ω1/2/4/8 raw {np.round(raw, 3)} "
            f"lens {np.round(om, 3)}" + (f"; validation answer rows raw {np.round(entry['val_omega_raw'], 3)} "
                                         f"lens {np.round(entry['val_omega_lens'], 3)}" if len(val_answer) else ""))
        report[str(l)] = entry
        tensors += [(f"lens.{l}.weight", a1), (f"lens.{l}.bias", b1)]
    meta = {
        "general.architecture": ("str", "mirrorsd.exit_lens"),
        "general.name": ("str", f"{a.target_name} exit lenses"),
        "mirrorsd.lens.target_fingerprint": ("str", m["fingerprint"]),
        "mirrorsd.lens.target_name": ("str", a.target_name),
        "mirrorsd.lens.dim": ("u32", m["dim"]),
        "mirrorsd.lens.layers": ("i32[]", layers),
        "mirrorsd.lens.recipe": ("str", f"tools/lens/train.py --seconds {a.seconds:g} --batch {a.batch} --lr {a.lr:g} --seed {a.seed} "
                                      f"--decay {a.decay:g} --answer-share {a.answer_share:g} --val-every {a.val_every}"),
        "mirrorsd.lens.data": ("str", f"{n} rows from {len(parts)} lens-data run(s) over training-split Spec-Bench prompts"),
    }
    write_gguf(a.out, meta, tensors)
    log(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB)")
    print(json.dumps({"rows": n, "layers": report}, indent=1))


if __name__ == "__main__":
    main()
