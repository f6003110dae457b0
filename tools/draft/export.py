"""Write a trained draft checkpoint as a llama-architecture GGUF with Q8_0 matrices.

Tokenizer metadata is copied from the target unchanged (so MirrorSD's pair validation passes);
`mirrorsd.head_vocab` records the restricted head (llama.cpp ignores unknown keys). A train.py checkpoint
is a standard llama file. An eagle.py checkpoint (a feature draft) adds `eagle.fc.weight`,
`eagle.in_norm.weight`, `mirrorsd.draft.kind` = "eagle" and the target's fingerprint (MirrorSD's
LlamaModel.fingerprint), which MirrorSD checks before it feeds the draft that target's hidden states;
llama.cpp cannot run such a file.
"""
import argparse
import os
import sys

import gguf
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))

Q8 = gguf.GGMLQuantizationType.Q8_0


def fingerprint(path):
    """MirrorSD's LlamaModel.fingerprint: FNV-1a 64 over the shape and the bits of every norm weight."""
    from smollm import load_tensors
    cfg, t, _ = load_tensors(path)
    h, mask = 0xcbf29ce484222325, (1 << 64) - 1

    def mix(v):
        nonlocal h
        for _ in range(8):
            h = ((h ^ (v & 0xff)) * 0x00000100000001b3) & mask
            v >>= 8
    for v in (cfg.d, cfg.n_layer, cfg.n_head, cfg.n_kv, cfg.ffn, t["token_embd.weight"].shape[0]):
        mix(v)
    names = [f"blk.{l}.{n}_norm.weight" for l in range(cfg.n_layer) for n in ("attn", "ffn")] + ["output_norm.weight"]
    for name in names:
        for bits in t[name].numpy().astype(np.float32).view(np.uint32):
            mix(int(bits))
    return "fnv1a64:" + format(h, "x")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, help="the target GGUF (tokenizer and embedding source)")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--description", default="")
    a = ap.parse_args()

    ck = torch.load(a.checkpoint)
    st, args = ck["state"], ck["args"]
    eagle = "init_block" in args
    k = 1 if eagle else args["layers"]
    reader = gguf.GGUFReader(a.model)
    w = gguf.GGUFWriter(a.out, "llama")
    skip = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture",
            "general.name", "llama.block_count", "general.file_type", "general.size_label",
            "general.basename", "general.finetune", "general.quantization_version"}
    for key, f in reader.fields.items():
        if key in skip:
            continue
        vtype = f.types[0]
        sub = f.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, f.contents(), vtype, sub)
    w.add_name(a.name)
    if a.description:
        w.add_description(a.description)
    w.add_block_count(k)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_uint32("mirrorsd.head_vocab", int(args["head_vocab"]))
    w.add_float32("mirrorsd.heldout_top1", float(ck["heldout_top1"]))
    if eagle:
        w.add_string("mirrorsd.draft.kind", "eagle")
        w.add_string("mirrorsd.eagle.target_fingerprint", fingerprint(a.model))
        w.add_string("mirrorsd.eagle.target_name", os.path.basename(a.model))
        w.add_float32("mirrorsd.heldout_tokens_per_step", float(ck["tokens_per_step"]))

    def f32(name, t):
        w.add_tensor(name, t.detach().float().numpy().astype(np.float32))

    def q8(name, t):
        w.add_tensor(name, gguf.quants.quantize(t.detach().float().numpy().astype(np.float32), Q8), raw_dtype=Q8)

    q8("token_embd.weight", st["embed"])
    f32("output_norm.weight", st["out_norm"])
    names = {"attn_norm": "attn_norm.weight", "wq": "attn_q.weight", "wk": "attn_k.weight", "wv": "attn_v.weight",
             "wo": "attn_output.weight", "ffn_norm": "ffn_norm.weight", "w1": "ffn_gate.weight",
             "w3": "ffn_up.weight", "w2": "ffn_down.weight", "down_bias": "ffn_down.bias"}
    if eagle:
        q8("eagle.fc.weight", st["fc"])
        f32("eagle.in_norm.weight", st["in_norm"])
    for i in range(k):
        for src, dst in names.items():
            key = f"block.{src}" if eagle else f"blocks.{i}.{src}"
            if key not in st:
                continue
            t = st[key]
            (q8 if t.dim() == 2 else f32)(f"blk.{i}.{dst}", t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    kind = "feature draft, " if eagle else ""
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB, {kind}{k} blocks, head {args['head_vocab']})")


if __name__ == "__main__":
    main()
