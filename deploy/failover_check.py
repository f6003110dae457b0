#!/usr/bin/env python3
"""Two `mirror-sd serve` replicas behind nginx with deploy/mirror-sd.nginx.conf, under load, through a
SIGTERM, a restart and a SIGKILL: counts the requests that failed (the goal is 0).

    deploy/failover_check.py [--binary .build/release/mirror-sd] [--clients 4] [--max-tokens 24]
                             [--server-args "--mode ar --target-type native"] [--nginx /usr/sbin/nginx]

It starts the replicas and an nginx of its own (a temporary prefix, unprivileged ports), sends
non-streamed chat requests from --clients threads (half of them with an X-Session-Id header, so both
pools are used), and meanwhile: SIGTERM replica 1 and start it again, then SIGKILL replica 2 and start
it again. A streamed request through nginx is checked to arrive in several chunks (unbuffered). Standard
library only; exits non-zero when a request failed.
"""
import argparse, http.client, json, os, re, shlex, signal, socket, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"error: nothing listens on {port} after {timeout} s")


class Replica:
    def __init__(self, binary, port, extra):
        self.cmd = [binary, "serve", "--port", str(port)] + extra
        self.port = port
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stderr=subprocess.DEVNULL)
        wait_listening(self.port)

    def signal(self, sig):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=300)


def request(port, body, session=None, stream=False):
    headers = {"Content-Type": "application/json"}
    if session:
        headers["X-Session-Id"] = session
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, stream=stream)), headers=headers)
    r = c.getresponse()
    if not stream:
        data = r.read()
        c.close()
        return r.status, data
    chunks = []
    for raw in r:
        chunks.append((time.perf_counter(), raw))
    c.close()
    return r.status, chunks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=".build/release/mirror-sd")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--server-args", default="--mode ar --target-type native")
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--phase-seconds", type=float, default=8, help="load before and after each event")
    a = ap.parse_args()
    if not os.path.exists(a.nginx):
        raise SystemExit(f"error: {a.nginx} not found (Debian: apt install nginx)")

    front, p1, p2 = free_port(), free_port(), free_port()
    conf = open(os.path.join(HERE, "mirror-sd.nginx.conf")).read()
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{front};")
    conf = conf.replace("127.0.0.1:8081", f"127.0.0.1:{p1}").replace("127.0.0.1:8082", f"127.0.0.1:{p2}")
    tmp = tempfile.mkdtemp(prefix="mirror-sd-nginx-")
    with open(os.path.join(tmp, "site.conf"), "w") as f:
        f.write(conf)
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write(f"""daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{ access_log off; client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
        fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
        include {tmp}/site.conf; }}
""")
    extra = shlex.split(a.server_args)
    replicas = [Replica(a.binary, p1, extra), Replica(a.binary, p2, extra)]
    for r in replicas:
        r.start()
    nginx = subprocess.Popen([a.nginx, "-p", tmp, "-c", f"{tmp}/nginx.conf"])
    wait_listening(front)

    body = {"messages": [{"role": "user", "content": "Name three colours."}], "max_tokens": a.max_tokens, "temperature": 0}
    status, chunks = request(front, dict(body, max_tokens=48), stream=True)
    events = [c for c in chunks if c[1].startswith(b"data: ")]
    spread = events[-1][0] - events[0][0] if events else 0
    print(f"stream through nginx: HTTP {status}, {len(events)} events over {spread * 1e3:.0f} ms "
          f"({'unbuffered' if len(events) > 3 and spread > 0 else 'CHECK BUFFERING'})")

    stop = threading.Event()
    lock = threading.Lock()
    results = []  # (phase, ok, detail)
    phase = ["steady"]

    def client(k):
        i = 0
        while not stop.is_set():
            session = f"conversation-{k}" if k % 2 == 0 else None
            try:
                st, data = request(front, body, session=session)
                ok = st == 200 and json.loads(data)["choices"][0]["message"]["content"] is not None
                detail = "" if ok else f"HTTP {st}: {data[:160]!r}"
            except Exception as e:  # noqa: BLE001 - every failure is counted
                ok, detail = False, repr(e)
            with lock:
                results.append((phase[0], ok, detail))
            i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
    for t in threads:
        t.start()
    steps = []
    time.sleep(a.phase_seconds)
    phase[0] = "SIGTERM replica 1"
    t0 = time.time()
    code = replicas[0].signal(signal.SIGTERM)
    steps.append(f"replica 1 exited {code} {time.time() - t0:.1f} s after SIGTERM")
    time.sleep(a.phase_seconds / 2)
    phase[0] = "restart replica 1"
    replicas[0].start()
    steps.append("replica 1 listening again")
    time.sleep(a.phase_seconds)
    phase[0] = "SIGKILL replica 2"
    replicas[1].signal(signal.SIGKILL)
    steps.append("replica 2 killed")
    time.sleep(a.phase_seconds / 2)
    phase[0] = "restart replica 2"
    replicas[1].start()
    steps.append("replica 2 listening again")
    time.sleep(a.phase_seconds)
    stop.set()
    for t in threads:
        t.join()
    nginx.send_signal(signal.SIGQUIT)
    nginx.wait(timeout=30)
    for r in replicas:
        r.signal(signal.SIGTERM)

    for s in steps:
        print(s)
    failed = [r for r in results if not r[1]]
    print("| phase | requests | failed |\n|---|---|---|")
    for name in dict.fromkeys(r[0] for r in results):
        rs = [r for r in results if r[0] == name]
        print(f"| {name} | {len(rs)} | {sum(not r[1] for r in rs)} |")
    print(f"total: {len(results)} non-streamed requests, {len(failed)} failed")
    for f in failed[:10]:
        print("  failed:", f[0], f[2])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
