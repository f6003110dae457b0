"""A faithful fp32 torch implementation of the llama-architecture GGUF files MirrorSD runs.

Used as the teacher (batched generation and soft labels) and as the skeleton of the draft.
Conventions follow llama.cpp, and MirrorSD's Swift engine: attn_q/attn_k are stored permuted
for adjacent-pair RoPE, so RoPE here rotates (x[2i], x[2i+1]) pairs.
"""
import math

import gguf
import numpy as np
import torch
import torch.nn.functional as F


class Config:
    def __init__(self, reader: gguf.GGUFReader):
        def get(key):
            field = reader.fields.get(key)
            if field is None:
                raise KeyError(f"GGUF metadata key {key} is missing")
            return field.contents()
        arch = get("general.architecture")
        if arch != "llama":
            raise ValueError(f"architecture {arch!r} is not llama")
        self.n_layer = int(get("llama.block_count"))
        self.d = int(get("llama.embedding_length"))
        self.ffn = int(get("llama.feed_forward_length"))
        self.n_head = int(get("llama.attention.head_count"))
        self.n_kv = int(get("llama.attention.head_count_kv"))
        self.eps = float(get("llama.attention.layer_norm_rms_epsilon"))
        self.theta = float(get("llama.rope.freq_base"))
        self.head_dim = self.d // self.n_head


def load_tensors(path: str):
    reader = gguf.GGUFReader(path)
    tensors = {}
    for t in reader.tensors:
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        tensors[t.name] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    return Config(reader), tensors, reader


def rope_tables(head_dim: int, theta: float, max_pos: int):
    # Double precision like the engine's table, then fp32.
    inv = theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    ang = np.arange(max_pos, dtype=np.float64)[:, None] * inv[None, :]
    return torch.from_numpy(np.cos(ang).astype(np.float32)), torch.from_numpy(np.sin(ang).astype(np.float32))


def apply_rope(x, cos, sin):
    # x: [B, H, T, hd]; cos/sin: [B, 1, T, hd/2]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    r0 = x0 * cos - x1 * sin
    r1 = x0 * sin + x1 * cos
    return torch.stack((r0, r1), dim=-1).flatten(-2)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class Block(torch.nn.Module):
    def __init__(self, cfg: Config, t: dict, i: int):
        super().__init__()
        p = f"blk.{i}."
        P = torch.nn.Parameter
        self.attn_norm = P(t[p + "attn_norm.weight"].clone())
        self.wq = P(t[p + "attn_q.weight"].clone())
        self.wk = P(t[p + "attn_k.weight"].clone())
        self.wv = P(t[p + "attn_v.weight"].clone())
        self.wo = P(t[p + "attn_output.weight"].clone())
        self.ffn_norm = P(t[p + "ffn_norm.weight"].clone())
        self.w1 = P(t[p + "ffn_gate.weight"].clone())
        self.w3 = P(t[p + "ffn_up.weight"].clone())
        self.w2 = P(t[p + "ffn_down.weight"].clone())
        bias = t.get(p + "ffn_down.bias")
        self.down_bias = P(bias.clone()) if bias is not None else None
        self.cfg = cfg

    def forward(self, x, cos, sin, cache=None, start=None, key_mask=None):
        """x: [B, T, d]. Without a cache: causal self-attention over x (training).
        With a cache (k, v of [B, n_kv, Tmax, hd]): write this step's keys at `start` and attend to
        cache[:start+T] under `key_mask` ([B, 1, T, start+T] bool, True = attend)."""
        c = self.cfg
        B, T, _ = x.shape
        h = rms_norm(x, self.attn_norm, c.eps)
        q = F.linear(h, self.wq).view(B, T, c.n_head, c.head_dim).transpose(1, 2)
        k = F.linear(h, self.wk).view(B, T, c.n_kv, c.head_dim).transpose(1, 2)
        v = F.linear(h, self.wv).view(B, T, c.n_kv, c.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is None:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        else:
            kc, vc = cache
            kc[:, :, start:start + T] = k
            vc[:, :, start:start + T] = v
            a = F.scaled_dot_product_attention(q, kc[:, :, :start + T], vc[:, :, :start + T],
                                               attn_mask=key_mask, enable_gqa=True)
        x = x + F.linear(a.transpose(1, 2).reshape(B, T, c.d), self.wo)
        h = rms_norm(x, self.ffn_norm, c.eps)
        y = F.linear(F.silu(F.linear(h, self.w1)) * F.linear(h, self.w3), self.w2)
        if self.down_bias is not None:
            y = y + self.down_bias
        return x + y


class Llama(torch.nn.Module):
    """Blocks `layers` of a GGUF llama model with its embedding, final norm and tied head."""

    def __init__(self, cfg: Config, t: dict, layers=None, max_pos: int = 4096):
        super().__init__()
        self.cfg = cfg
        layers = range(cfg.n_layer) if layers is None else layers
        self.blocks = torch.nn.ModuleList(Block(cfg, t, i) for i in layers)
        self.embed = torch.nn.Parameter(t["token_embd.weight"].clone(), requires_grad=False)
        self.out_norm = torch.nn.Parameter(t["output_norm.weight"].clone())
        if "output.weight" in t:
            raise ValueError("untied output heads are not supported by this script")
        self.cos, self.sin = rope_tables(cfg.head_dim, cfg.theta, max_pos)

    def rope_for(self, pos):
        return self.cos[pos].unsqueeze(1), self.sin[pos].unsqueeze(1)

    def hidden(self, ids, pos):
        """Training forward: ids, pos [B, T] -> final-normed hidden [B, T, d]."""
        cos, sin = self.rope_for(pos)
        x = F.embedding(ids, self.embed)
        for b in self.blocks:
            x = b(x, cos, sin)
        return rms_norm(x, self.out_norm, self.cfg.eps)

    def new_cache(self, B: int, tmax: int):
        c = self.cfg
        return [(torch.zeros(B, c.n_kv, tmax, c.head_dim), torch.zeros(B, c.n_kv, tmax, c.head_dim))
                for _ in self.blocks]

    @torch.no_grad()
    def step(self, ids, pos, cache, start, key_mask, vocab=None, with_hidden=False):
        """Cached forward of ids [B, T] written at cache slot `start`; returns logits [B, T, vocab], and with
        `with_hidden` also the last block's output before the final norm [B, T, d] (what EAGLE-style drafts read)."""
        cos, sin = self.rope_for(pos)
        x = F.embedding(ids, self.embed)
        for b, kv in zip(self.blocks, cache):
            x = b(x, cos, sin, kv, start, key_mask)
        h = rms_norm(x, self.out_norm, self.cfg.eps)
        head = self.embed if vocab is None else self.embed[:vocab]
        logits = F.linear(h, head)
        return (logits, x) if with_hidden else logits
