#!/usr/bin/env python3
"""Checks `mirror-sd serve` with the official `openai` Python client (pip install openai).

    tools/server/openai_check.py [--binary .build/release/mirror-sd] [--url http://127.0.0.1:PORT]

Without --url it starts the server itself on a free port (with an API key) and stops it with SIGTERM.
Checks: models.list, a greedy chat completion equal to `mirror-sd generate --chat` (ar and mirror), the
same answer streamed, a text completion, extra_body mirror_sd fields, the mirror_sd statistics, logprobs
(chat and completions), response_format refused, a bad request raising openai.BadRequestError, a wrong key raising openai.AuthenticationError, and a clean exit.
Prints what it did; exits non-zero on the first failure.
"""
import argparse, json, os, re, signal, subprocess, sys, time

import openai

PROMPT = "Give three tips for writing clear code."


def start(binary, key):
    p = subprocess.Popen([binary, "serve", "--port", "0", "--api-key", key], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        line = p.stderr.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if m:
            return p, m.group(1)
        if p.poll() is not None:
            break
    raise SystemExit(f"error: the server did not start ({p.poll()})")


def cli(binary, mode, n):
    # The server's default target: the file's own formats (native), an fp16 KV cache.
    out = subprocess.run([binary, "generate", "--chat", "--prompt", PROMPT, "-n", str(n), "--mode", mode, "--target-type", "native",
                          "--kv-cache", "f16", "--json"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["text"]


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok: {what}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=".build/release/mirror-sd")
    ap.add_argument("--url", help="a running server (otherwise one is started)")
    ap.add_argument("--api-key", default="check-key")
    args = ap.parse_args()
    proc = None
    url = args.url
    if url is None:
        proc, url = start(args.binary, args.api_key)
    try:
        client = openai.OpenAI(base_url=url + "/v1", api_key=args.api_key)
        models = client.models.list()
        check(len(models.data) == 1 and models.data[0].id.endswith(".gguf"), f"models.list -> {models.data[0].id}")
        for mode in ["ar", "mirror"]:
            want = cli(args.binary, mode, 32)
            r = client.chat.completions.create(model=models.data[0].id, messages=[{"role": "user", "content": PROMPT}],
                                               max_tokens=32, temperature=0, extra_body={"mirror_sd": {"mode": mode}})
            check(r.choices[0].message.content == want, f"chat.completions ({mode}) equals `mirror-sd generate --chat --mode {mode}`")
            check(r.usage.completion_tokens == 32 and r.choices[0].finish_reason == "length", f"usage and finish_reason ({mode})")
            stats = (r.model_extra or {}).get("mirror_sd", {})
            check(stats.get("mode") == mode, f"mirror_sd statistics present ({mode})")
            chunks = client.chat.completions.create(model="any", messages=[{"role": "user", "content": PROMPT}], max_tokens=32,
                                                    temperature=0, stream=True, stream_options={"include_usage": True},
                                                    extra_body={"mirror_sd": {"mode": mode}})
            text, usage = "", None
            for c in chunks:
                if c.choices and c.choices[0].delta.content:
                    text += c.choices[0].delta.content
                if c.usage:
                    usage = c.usage
            check(text == want and usage is not None and usage.completion_tokens == 32, f"streamed chat ({mode}) concatenates to the same text")
        t = client.completions.create(model="any", prompt="Once upon a time", max_tokens=8, temperature=0,
                                      extra_body={"mirror_sd": {"mode": "sd", "draft": "small"}})
        check(len(t.choices[0].text) > 0 and t.usage.completion_tokens == 8, f"completions (sd, small draft): {t.choices[0].text!r}")
        lp = client.chat.completions.create(model="any", messages=[{"role": "user", "content": PROMPT}], max_tokens=16,
                                            temperature=0, logprobs=True, top_logprobs=3)
        content = lp.choices[0].logprobs.content
        check(len(content) == 16 and all(e.logprob <= 0 and len(e.top_logprobs) == 3 for e in content),
              "chat logprobs: 16 tokens, each with 3 top_logprobs")
        check(all(e.top_logprobs[0].token == e.token and e.top_logprobs[0].logprob == e.logprob for e in content),
              "greedy: each token is its own most likely")
        check("".join(bytes(e.bytes).decode("utf-8", "replace") for e in content) == lp.choices[0].message.content,
              "the tokens' bytes spell the answer")
        tl = client.completions.create(model="any", prompt="Once upon a time", max_tokens=6, temperature=0, logprobs=2)
        l = tl.choices[0].logprobs
        check(len(l.tokens) == len(l.token_logprobs) == len(l.top_logprobs) == len(l.text_offset) == 6 and "".join(l.tokens) == tl.choices[0].text,
              "completions logprobs: tokens, token_logprobs, top_logprobs, text_offset")
        try:
            client.chat.completions.create(model="any", messages=[{"role": "user", "content": "x"}], response_format={"type": "json_object"})
            check(False, "response_format refused")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and "response_format" in str(e), "response_format -> BadRequestError (not silently ignored)")
        try:
            client.chat.completions.create(model="any", messages=[{"role": "user", "content": "x"}], temperature=7)
            check(False, "temperature 7 refused")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and "temperature" in str(e), "temperature 7 -> BadRequestError naming the field")
        try:
            openai.OpenAI(base_url=url + "/v1", api_key="wrong").models.list()
            check(False, "a wrong key refused")
        except openai.AuthenticationError as e:
            check(e.status_code == 401, "a wrong key -> AuthenticationError")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(timeout=120)
    if proc is not None:
        check(rc == 0, "SIGTERM -> exit 0")
    print(f"openai {openai.__version__}: all checks passed against {url}")


if __name__ == "__main__":
    main()
