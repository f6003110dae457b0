#!/usr/bin/env python3
"""Soak runs (a script, not a CI gate), with the RSS curve of each:

  long   one Mirror-SD generation that fills an 8,192-token context (`generate --ctx 8192 --ignore-eos`), the
         process's RSS sampled every 2 s;
  many   1,000 short generations in one server process, cycling ar, sd and mirror, greedy and sampled, some
         with stop strings, the server's RSS after every 50.

    tools/soak/soak.py [long] [many] [--binary .build/release/mirror-sd] [--count 1000] [--out DIR]

Neither may crash: every generation must succeed. RSS must not grow after warm-up, except, in `long`, by the
KV pages the growing context touches (the cache is reserved up front and the kernel backs it as it fills;
the report prints that expected figure next to the measured growth). Writes DIR/soak-*.csv when --out is given.
"""
import argparse, json, os, re, signal, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "server"))
from loadbench import one_request, rss_mb, start  # noqa: E402


def kv_bytes_per_position(binary, model):
    """K and V of every layer, fp32, for one position of one session (from `inspect`)."""
    out = subprocess.run([binary, "inspect", model], capture_output=True, text=True).stdout
    def key(k):
        m = re.search(rf"\.{k}\s+\w+\s+(\d+)", out)
        return int(m.group(1)) if m else None
    layers, dim, heads, kv = key("block_count"), key("embedding_length"), key("head_count"), key("head_count_kv")
    if None in (layers, dim, heads, kv):
        return None
    return layers * (dim // heads) * kv * 2 * 4


def long_run(args):
    prompt = "Write a very long story about a lighthouse keeper and the sea, chapter after chapter."
    cmd = [args.binary, "generate", "--mode", "mirror", "--ctx", "8192", "-n", "8192", "--ignore-eos", "--chat",
           "--prompt", prompt, "--json"]
    t0 = time.time()
    # Output to files, not pipes: nothing reads a pipe until the end, and 8k tokens of streamed text
    # fill one (the generation then blocks on its write, as the first 8k run did).
    out_f, err_f = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    p = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, text=True)
    curve = []
    while p.poll() is None:
        try:
            curve.append((time.time() - t0, rss_mb(p.pid)))
        except OSError:
            break
        time.sleep(2)
    p.wait()
    out_f.seek(0); err_f.seek(0)
    out, err = out_f.read(), err_f.read()
    if p.returncode != 0:
        raise SystemExit(f"long: exit {p.returncode}: {err[-500:]}")
    r = json.loads(out)
    n, prompt_tokens = len(r["tokens"]), r["prompt_tokens"]
    per_pos = kv_bytes_per_position(args.binary, args.model)
    warm = next((m for t, m in curve if t >= 6), curve[0][1] if curve else float("nan"))
    peak = max(m for _, m in curve) if curve else float("nan")
    print(f"long: {n} tokens after a {prompt_tokens}-token prompt, stop {r['stop_reason']}, "
          f"{r['stats']['decode_tokens_per_second']:.1f} tok/s, {time.time() - t0:.0f} s")
    print(f"long: RSS {curve[0][1]:.0f} MB at start, {warm:.0f} MB after warm-up (6 s), {peak:.0f} MB peak, {curve[-1][1]:.0f} MB at the end")
    if per_pos:
        print(f"long: KV pages the context touches (target and draft): {2 * per_pos * (n + prompt_tokens) / 2**20:.0f} MB")
    return [("long", t, m) for t, m in curve]


def many_run(args):
    proc, url = start(args.binary, [])
    prompts = [json.loads(l)["turns"][0] for l in open("data/specbench/question.jsonl")]
    modes = ["ar", "sd", "mirror"]
    curve, errors, t0 = [], [], time.time()
    for i in range(args.count):
        body = {"messages": [{"role": "user", "content": prompts[i % len(prompts)]}], "max_tokens": 8 + i % 17,
                "temperature": 0 if i % 2 == 0 else 0.8, "seed": i, "stream": i % 3 == 0,
                "stream_options": {"include_usage": True} if i % 3 == 0 else None,
                "mirror_sd": {"mode": modes[i % 3]}}
        if body["stream_options"] is None:
            del body["stream_options"]
        if i % 5 == 0:
            body["stop"] = ["\n\n", "."]
        if body["stream"]:
            _, _, _, err = one_request(url, body)
        else:
            import http.client
            from urllib.parse import urlparse
            u = urlparse(url)
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
            c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            err = None if r.status == 200 and "choices" in json.loads(data) else f"HTTP {r.status}: {data[:200]!r}"
            c.close()
        if err:
            errors.append((i, err))
        if i % 50 == 0 or i == args.count - 1:
            curve.append((i + 1, time.time() - t0, rss_mb(proc.pid)))
            print(f"\rmany: {i + 1}/{args.count}, RSS {curve[-1][2]:.1f} MB, errors {len(errors)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=120)
    warm = next((m for n, _, m in curve if n >= 51), curve[0][2])
    print(f"many: {args.count} generations in {time.time() - t0:.0f} s, errors {len(errors)}, server exit {rc}")
    print(f"many: RSS {curve[0][2]:.1f} MB after the first, {warm:.1f} MB after 51 (warm-up), {curve[-1][2]:.1f} MB at the end "
          f"({curve[-1][2] - warm:+.1f} MB after warm-up)")
    if errors:
        print(f"many: first errors: {errors[:3]}")
        raise SystemExit(1)
    return [("many", f"{n}:{t:.0f}", m) for n, t, m in curve]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="*", default=["long", "many"])
    ap.add_argument("--binary", default=".build/release/mirror-sd")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--out")
    args = ap.parse_args()
    rows = []
    for r in args.runs:
        if r not in ("long", "many"):
            raise SystemExit(f"error: unknown run '{r}' (long, many)")
        rows += long_run(args) if r == "long" else many_run(args)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "soak-rss.csv"), "w") as f:
            f.write("run,at,rss_mb\n" + "".join(f"{a},{b},{c:.1f}\n" for a, b, c in rows))


if __name__ == "__main__":
    main()
