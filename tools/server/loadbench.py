#!/usr/bin/env python3
"""Load benchmark for `mirror-sd serve`: N concurrent clients each send M streamed chat requests.

    tools/server/loadbench.py [--clients 4] [--requests 8] [--max-tokens 64] [--mode ar|sd|mirror]
                              [--binary .build/release/mirror-sd] [--server-args "..."] [--url URL --pid PID]
                              [--system "text every chat starts with"]

Without --url it starts the server on a free port and stops it at the end. Reports p50/p95/p99 latency,
time to first token, completion tokens/s (all clients together), errors (which must be 0), and the
server's RSS before the run, after a warm-up request, and after the run (from /proc/PID/status).
The prompts are the Spec-Bench questions in data/specbench (one per request, round robin). Standard
library only. Exits non-zero when any request failed.
"""
import argparse, http.client, json, re, shlex, signal, subprocess, sys, threading, time
from urllib.parse import urlparse


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start(binary, extra):
    p = subprocess.Popen([binary, "serve", "--port", "0"] + extra, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", p.stderr.readline())
        if m:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()  # keep draining stderr
            return p, m.group(1)
        if p.poll() is not None:
            break
    raise SystemExit("error: the server did not start")


def one_request(url, body):
    """Streams one chat completion; (latency s, ttft s, completion tokens, error or None)."""
    u = urlparse(url)
    t0 = time.perf_counter()
    try:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        if r.status != 200:
            return time.perf_counter() - t0, None, 0, f"HTTP {r.status}: {r.read()[:200]!r}"
        ttft, tokens, done = None, 0, False
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            payload = line[6:]
            if payload == "[DONE]":
                done = True
                break
            obj = json.loads(payload)
            if "error" in obj:
                return time.perf_counter() - t0, ttft, tokens, obj["error"].get("message")
            ch = obj.get("choices") or []
            if ch and ch[0].get("delta", {}).get("content") and ttft is None:
                ttft = time.perf_counter() - t0
            if obj.get("usage"):
                tokens = obj["usage"]["completion_tokens"]
        c.close()
        return time.perf_counter() - t0, ttft, tokens, None if done else "stream ended without [DONE]"
    except Exception as e:  # noqa: BLE001 - every failure is counted and shown
        return time.perf_counter() - t0, None, 0, repr(e)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=8, help="per client")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--mode", choices=["ar", "sd", "mirror"], help="ask every request for this mode (default: the server's own)")
    ap.add_argument("--binary", default=".build/release/mirror-sd")
    ap.add_argument("--server-args", default="", help="extra flags for `mirror-sd serve`")
    ap.add_argument("--url")
    ap.add_argument("--pid", type=int, help="the server's PID, with --url, for its RSS")
    ap.add_argument("--questions", default="data/specbench/question.jsonl")
    ap.add_argument("--system", help="a system message every request starts with (a shared prefix, as a deployed chat has)")
    args = ap.parse_args()
    if args.clients < 1 or args.requests < 1 or args.max_tokens < 1:
        raise SystemExit("error: --clients, --requests and --max-tokens must be at least 1")
    prompts = [json.loads(l)["turns"][0] for l in open(args.questions)]
    proc, url, pid = None, args.url, args.pid
    if url is None:
        proc, url = start(args.binary, shlex.split(args.server_args) + ["--queue-size", str(max(16, args.clients))])
        pid = proc.pid

    def body(i):
        system = [{"role": "system", "content": args.system}] if args.system else []
        b = {"messages": system + [{"role": "user", "content": prompts[i % len(prompts)]}], "max_tokens": args.max_tokens,
             "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
        if args.mode:
            b["mirror_sd"] = {"mode": args.mode}
        return b

    rss0 = rss_mb(pid) if pid else float("nan")
    one_request(url, body(0))  # warm-up: first-use allocations
    rss1 = rss_mb(pid) if pid else float("nan")
    results, lock = [], threading.Lock()

    def client(k):
        for j in range(args.requests):
            r = one_request(url, body(k * args.requests + j + 1))
            with lock:
                results.append(r)
                n = len(results)
            print(f"\r{n}/{args.clients * args.requests} requests", end="", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    print(file=sys.stderr)
    rss2 = rss_mb(pid) if pid else float("nan")
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    lat = [r[0] for r in results]
    ttft = [r[1] for r in results if r[1] is not None]
    tokens = sum(r[2] for r in results)
    errors = [r[3] for r in results if r[3]]
    print(f"{args.clients} clients x {args.requests} requests, mode {args.mode or 'the server default'}, max_tokens {args.max_tokens}, {url}"
          + (f", a {len(args.system)}-character system prompt" if args.system else ""))
    print(f"latency s   p50 {pct(lat, 50):.2f}  p95 {pct(lat, 95):.2f}  p99 {pct(lat, 99):.2f}")
    print(f"first token p50 {pct(ttft, 50):.2f}  p95 {pct(ttft, 95):.2f}  p99 {pct(ttft, 99):.2f}  (includes queueing)")
    print(f"throughput  {tokens} completion tokens in {wall:.1f} s = {tokens / wall:.1f} tok/s")
    print(f"server RSS  {rss0:.1f} MB at start, {rss1:.1f} MB after warm-up, {rss2:.1f} MB after the run ({rss2 - rss1:+.1f} MB)")
    print(f"errors      {len(errors)}" + (f": {errors[:3]}" if errors else ""))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
