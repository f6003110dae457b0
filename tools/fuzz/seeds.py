#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from real files: the head of the SmolLM2 GGUF (header, metadata and
part of the tensor table, truncated), a complete small GGUF v3 file written here, tiny complete Llama
models (f32 and Q8_0 matrices) for the model-binding target, and chat prompts."""
import os, random, struct, sys

model = sys.argv[1] if len(sys.argv) > 1 else "models/SmolLM2-135M-Instruct.Q4_1.gguf"
out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/mirrorsd-fuzz"

def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b

def tiny_gguf():
    kv = [("general.architecture", 8, gguf_string("llama")), ("llama.block_count", 4, struct.pack("<I", 1)),
          ("general.alignment", 4, struct.pack("<I", 32))]
    body = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv))
    for k, t, v in kv:
        body += gguf_string(k) + struct.pack("<I", t) + v
    body += gguf_string("w") + struct.pack("<I", 2) + struct.pack("<QQ", 2, 2) + struct.pack("<IQ", 0, 0)
    body += b"\0" * (-len(body) % 32)
    return body + struct.pack("<4f", 1, 2, 3, 4)

def tiny_llama(q8):
    """A 1-block Llama (width 32, 4 heads, 2 KV heads, FFN 64, vocab 32) with seeded random weights."""
    rng = random.Random(7)
    dim, heads, kv, ffn, vocab, ctx = 32, 4, 2, 64, 32, 64
    u32 = lambda v: (4, struct.pack("<I", v))
    meta = [("general.architecture", (8, gguf_string("llama"))), ("llama.context_length", u32(ctx)),
            ("llama.embedding_length", u32(dim)), ("llama.block_count", u32(1)), ("llama.feed_forward_length", u32(ffn)),
            ("llama.attention.head_count", u32(heads)), ("llama.attention.head_count_kv", u32(kv)),
            ("llama.attention.layer_norm_rms_epsilon", (6, struct.pack("<f", 1e-5))),
            ("llama.rope.dimension_count", u32(dim // heads)), ("llama.vocab_size", u32(vocab))]
    def q8_0(xs):
        out = b""
        for i in range(0, len(xs), 32):
            blk = xs[i:i + 32]
            d = max(abs(x) for x in blk) / 127 or 1.0
            out += struct.pack("<e", d) + bytes((round(x / d) & 0xff) for x in blk)
        return out
    tensors = []
    def add(name, dims, scale, matrix=True):
        n = 1
        for d in dims: n *= d
        xs = [rng.uniform(-scale, scale) + (0 if matrix else 1) for _ in range(n)]
        if matrix and q8: tensors.append((name, dims, 8, q8_0(xs)))
        else: tensors.append((name, dims, 0, struct.pack(f"<{n}f", *xs)))
    add("token_embd.weight", [dim, vocab], 1)
    add("blk.0.attn_norm.weight", [dim], 0.1, False)
    for name, o in (("attn_q", dim), ("attn_k", dim // heads * kv), ("attn_v", dim // heads * kv)):
        add(f"blk.0.{name}.weight", [dim, o], 0.2)
    add("blk.0.attn_output.weight", [dim, dim], 0.2)
    add("blk.0.ffn_norm.weight", [dim], 0.1, False)
    add("blk.0.ffn_gate.weight", [dim, ffn], 0.2)
    add("blk.0.ffn_up.weight", [dim, ffn], 0.2)
    add("blk.0.ffn_down.weight", [ffn, dim], 0.2)
    add("output_norm.weight", [dim], 0.1, False)
    body = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta))
    for k, (t, v) in meta:
        body += gguf_string(k) + struct.pack("<I", t) + v
    offset, data = 0, b""
    for name, dims, t, raw in tensors:
        body += gguf_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        body += struct.pack("<IQ", t, offset)
        pad = b"\0" * (-len(raw) % 32)
        data += raw + pad
        offset += len(raw) + len(pad)
    body += b"\0" * (-len(body) % 32)
    return body + data

os.makedirs(f"{out}/model", exist_ok=True)
open(f"{out}/model/tiny-llama-f32", "wb").write(tiny_llama(False))
open(f"{out}/model/tiny-llama-q8_0", "wb").write(tiny_llama(True))
os.makedirs(f"{out}/gguf", exist_ok=True)
os.makedirs(f"{out}/tokenizer", exist_ok=True)
with open(model, "rb") as f:
    head = f.read(1 << 20)
for n in (64, 4096, 65536, 1 << 20):
    open(f"{out}/gguf/smollm2-head-{n}", "wb").write(head[:n])
open(f"{out}/gguf/tiny-v3", "wb").write(tiny_gguf())
for i, text in enumerate(["Hello world", "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
                          "def f(x):\n    return x ** 2  # ünïcödé ✓ 数学", "\xff\xfe broken \x00 bytes"]):
    open(f"{out}/tokenizer/seed-{i}", "wb").write(text.encode("utf-8", "surrogateescape"))
os.makedirs(f"{out}/openai", exist_ok=True)
for i, body in enumerate([
        '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":16,"temperature":0}',
        '{"model":"x","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]}],'
        '"stream":true,"stream_options":{"include_usage":true},"stop":["\\n","END"],"seed":7,"top_p":0.9,"top_k":40,"min_p":0.05,'
        '"mirror_sd":{"mode":"mirror","draft":"small+lookup","gamma":4,"kappa":2,"exit_layer":22}}',
        '{"prompt":"Once upon a time","max_tokens":8,"n":1,"logprobs":null,"echo":false}',
        '{"prompt":["a","b"],"max_completion_tokens":1e30,"temperature":"hot"}']):
    open(f"{out}/openai/seed-{i}", "w").write(body)
os.makedirs(f"{out}/chat", exist_ok=True)
open(f"{out}/chat/seed-0", "w").write("You are kind.\0What is 2+2?\0Four.")
open(f"{out}/chat/seed-1", "w").write("{% for m in messages %}<|im_start|>{{m.role}}\n{{m.content}}<|im_end|>\n{% endfor %}"
                                      "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nDefault.<|im_end|>\n{% endif %}"
                                      "\x01Hi<|im_end|>\0there")
print(f"seeds in {out}")
