#!/usr/bin/env python3
"""A soak under churn: one gateway for a fixed time with everything that moves at once, its
resources sampled, to find what grows.

usage: python3 scripts/soak.py BIN_DIR [--minutes 30] [--sample 10] [--out DIR]

BIN_DIR holds builds of `switchboard` and `bench-upstream`. Everything runs on 127.0.0.1 and
stops at the deadline. Going on at once, each in its own thread:

  - session-era clients connecting, making calls and leaving (`switchboard load --protocol
    legacy`, new sessions every run; sessions left idle expire after 15 s);
  - stateless 2026-07-28 clients the same way (`--protocol modern`);
  - cache churn: a cached tool called with a different argument every run (2 s TTL);
  - durable tasks (a 2026-07-28 client creating tasks and polling them to completion) and a
    two-step workflow, run as plain calls;
  - faults: the stdio upstream crashed on purpose every 60 s (its `crash` tool), the HTTP
    upstream killed every 90 s and started again 2 s later on the same port;
  - a config reload every 45 s (the cache TTL flips between 2 s and 3 s).

Every `--sample` seconds: the gateway's RSS, open file descriptors and threads (from /proc),
open sessions and calls in flight upstream (from /metrics). At the end: a CSV, a Markdown
summary (figures at start, after warm-up and at the end, growth after warm-up, calls made and
failed, failures that a fault explains and those it does not) and Mermaid charts, in --out.
Exit 1 if a failure is unexplained, RSS or threads grew more than 5 % after warm-up, or more
descriptors stay open once the load is gone than were open under load after warm-up.
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port  # noqa: E402

EXT = "io.modelcontextprotocol/tasks"
WARMUP = 0.2  # share of the run before the baseline is taken


class Soak:
    def __init__(self, a):
        self.a = a
        self.sb = os.path.join(a.bin, "switchboard")
        self.up = os.path.join(a.bin, "bench-upstream")
        self.work = tempfile.mkdtemp(prefix="sb-soak-")
        self.cfg = os.path.join(self.work, "gateway.yaml")
        self.http_port, self.admin_port = free_port(), free_port()
        self.deadline = time.time() + a.minutes * 60
        self.lock = threading.Lock()
        self.runs = []  # (start, end, kind, ok, failed, errors)
        self.faults = []  # (start, end, what): windows in which failures are expected
        self.samples = []
        self.web = None
        self.ttl = 2
        self.reloads = 0

    # --- processes -------------------------------------------------------------------------
    def write_config(self):
        text = f"""http:
  session_idle_timeout: 15s
admin: {{listen: "127.0.0.1:{self.admin_port}"}}
cache:
  tools: {{"web__slow": {{ttl: {self.ttl}s}}}}
tasks:
  path: "{self.work}/tasks.db"
  workers: 4
  poll_interval: 100ms
  tools: {{"local__echo": {{mode: optional}}}}
workflows:
  pair:
    description: Two echoes, one after the other
    input_schema: {{type: object, properties: {{text: {{type: string}}}}, required: [text]}}
    steps:
      - id: first
        tool: local__echo
        args: {{text: "${{{{ .inputs.text }}}}"}}
      - id: second
        tool: local__echo
        needs: [first]
        args: {{text: "again"}}
servers:
  web: {{url: "http://127.0.0.1:{self.http_port}/mcp"}}
  local: {{command: "{self.up}"}}
"""
        tmp = self.cfg + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.cfg)

    def start_web(self):
        self.web = subprocess.Popen([self.up, "--http", f"127.0.0.1:{self.http_port}"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)

    def start_gateway(self):
        self.write_config()
        self.gw = subprocess.Popen(
            [self.sb, "serve", "--listen", "127.0.0.1:0", "--config", self.cfg],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "RUST_LOG": "warn", "NO_COLOR": "1"})
        for line in self.gw.stderr:
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                self.url = m.group(1)
                break
        else:
            raise RuntimeError("the gateway did not start")
        self.log = open(os.path.join(self.work, "gateway.log"), "w")
        threading.Thread(target=lambda: [self.log.write(l) for l in self.gw.stderr],
                         daemon=True).start()

    # --- load ------------------------------------------------------------------------------
    def load(self, kind, tool, args, protocol, c, n):
        t0 = time.time()
        try:
            out = subprocess.run(
                [self.sb, "load", "--url", self.url, "--protocol", protocol, "--tool", tool,
                 "--args", json.dumps(args), "-c", str(c), "-n", str(n), "--json",
                 "--no-progress", "--timeout", "10s"],
                capture_output=True, text=True, timeout=120)
            r = json.loads(out.stdout)
            ok, failed = r["ok"], r["failed"]
            errors = [e["error"] for e in r.get("errors", [])]
        except Exception as e:  # the driver itself failed: count the whole run as failed
            ok, failed, errors = 0, n, [f"driver: {e}"]
        with self.lock:
            self.runs.append((t0, time.time(), kind, ok, failed, errors))

    def pause(self, secs):
        """Sleep `secs` unless the deadline comes first; whether there is time left after."""
        time.sleep(max(0.0, min(secs, self.deadline - 10 - time.time())))
        return time.time() < self.deadline - 10

    def loop(self, body):
        i = 0
        while time.time() < self.deadline - 5:
            body(i)
            i += 1

    def sessions(self, i):
        self.load("legacy", "web__echo", {"text": f"s{i}"}, "legacy", 4, 200)

    def stateless(self, i):
        self.load("modern", "local__echo", {"text": f"m{i}"}, "modern", 4, 200)

    def cache(self, i):
        self.load("cache", "web__slow", {"ms": i % 200}, "legacy", 8, 100)
        time.sleep(0.2)

    def workflow(self, i):
        self.load("workflow", "workflows__pair", {"text": f"w{i}"}, "modern", 2, 20)
        time.sleep(0.5)

    def tasks(self, i):
        t0, ok, failed, errors = time.time(), 0, 0, []
        port = int(re.search(r":(\d+)/", self.url).group(1))
        for j in range(10):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                tid = self.request(conn, "tools/call", "local__echo",
                                   {"name": "local__echo", "arguments": {"text": f"t{i}.{j}"}}
                                   )["result"]["taskId"]
                end = time.time() + 10
                while time.time() < end:
                    got = self.request(conn, "tasks/get", tid, {"taskId": tid})["result"]
                    if got["status"] == "completed":
                        break
                    if got["status"] != "working":
                        raise RuntimeError(f"task ended {got['status']}")
                    time.sleep(0.05)
                else:
                    raise RuntimeError("task not completed in 10 s")
                conn.close()
                ok += 1
            except Exception as e:
                failed += 1
                errors.append(f"task: {e}")
        with self.lock:
            self.runs.append((t0, time.time(), "task", ok, failed, errors))
        time.sleep(1)

    @staticmethod
    def request(conn, method, name, params):
        params = dict(params)
        params["_meta"] = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                           "io.modelcontextprotocol/clientCapabilities":
                               {"extensions": {EXT: {}}}}
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        conn.request("POST", "/mcp", body, {
            "content-type": "application/json", "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28", "mcp-method": method, "mcp-name": name})
        return json.loads(conn.getresponse().read())

    # --- faults and reloads ----------------------------------------------------------------
    def crash_stdio(self, i):
        if not self.pause(60):
            return
        t0 = time.time()
        self.load("fault", "local__crash", {}, "modern", 1, 1)
        # Calls to the stdio server in flight when it dies, or made before it is back, fail:
        # the fault lasts until the gateway has it up again (its restart backs off when it
        # keeps crashing, up to 30 s), plus the driver's 10 s call timeout.
        self.faults.append((t0, self.back_up("local") + 10, "stdio upstream crashed"))

    def restart_web(self, i):
        if not self.pause(90):
            return
        t0 = time.time()
        self.web.send_signal(signal.SIGKILL)
        self.web.wait()
        time.sleep(2)
        self.start_web()
        self.faults.append((t0, self.back_up("web") + 10, "HTTP upstream killed and restarted"))

    def back_up(self, server):
        """When the gateway reports `server` up again (`mcp_upstream_up`), 60 s at most."""
        end = time.time() + 60
        time.sleep(0.5)
        while time.time() < end:
            try:
                text = urllib.request.urlopen(
                    f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5).read().decode()
                if re.search(rf'^mcp_upstream_up{{[^}}]*server="{server}"[^}}]*}} 1$', text, re.M):
                    break
            except Exception:
                pass
            time.sleep(0.5)
        return time.time()

    def reload(self, i):
        if not self.pause(45):
            return
        self.reloads += 1
        self.ttl = 5 - self.ttl  # 2 s ↔ 3 s
        self.write_config()

    # --- sampling --------------------------------------------------------------------------
    def sample(self, t0):
        pid = self.gw.pid
        status = open(f"/proc/{pid}/status").read()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        metrics = ""
        try:
            metrics = urllib.request.urlopen(
                f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5).read().decode()
        except Exception:
            pass

        def gauge(name):
            vals = [float(m) for m in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", metrics, re.M)]
            return sum(vals) if vals else None
        self.samples.append({"t": round(time.time() - t0), "rss_kb": rss, "fds": fds,
                             "threads": threads, "sessions": gauge("mcp_sessions"),
                             "upstream_in_flight": gauge("mcp_upstream_in_flight")})

    def run(self):
        self.start_web()
        time.sleep(0.3)
        self.start_gateway()
        t0 = time.time()
        self.sample(t0)
        workers = [self.sessions, self.stateless, self.cache, self.workflow, self.tasks,
                   self.crash_stdio, self.restart_web, self.reload]
        threads = [threading.Thread(target=self.loop, args=(w,), daemon=True) for w in workers]
        for th in threads:
            th.start()
        while time.time() < self.deadline:
            time.sleep(min(self.a.sample, max(0.0, self.deadline - time.time())))
            self.sample(t0)
        for th in threads:
            th.join(timeout=130)
        time.sleep(15)
        self.sample(t0)
        self.thread_names = self.threads_by_name()
        self.gw.send_signal(signal.SIGTERM)
        try:
            self.gw.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.gw.kill()
        self.web.kill()
        return self.report(t0)

    def threads_by_name(self):
        names = {}
        for tid in os.listdir(f"/proc/{self.gw.pid}/task"):
            try:
                n = open(f"/proc/{self.gw.pid}/task/{tid}/comm").read().strip()
            except OSError:
                continue
            names[n] = names.get(n, 0) + 1
        return ", ".join(f"{n} × {c}" for n, c in sorted(names.items()))

    # --- report ----------------------------------------------------------------------------
    def report(self, t0):
        os.makedirs(self.a.out, exist_ok=True)
        keys = ["t", "rss_kb", "fds", "threads", "sessions", "upstream_in_flight"]
        with open(os.path.join(self.a.out, "soak.csv"), "w") as f:
            f.write(",".join(keys) + "\n")
            for s in self.samples:
                f.write(",".join("" if s[k] is None else str(s[k]) for k in keys) + "\n")
        # Baseline and end: medians over windows (a single sample catches calls, connections
        # and allocator pages in flight): the fifth of the run after warm-up, and the last
        # fifth under load. The allocator returns freed pages after ~10 s, so the quiet
        # figure is taken 15 s after the load stopped.
        span = self.a.minutes * 60

        def median(rows):
            out = {}
            for k in rows[0]:
                vals = sorted(r[k] for r in rows if r[k] is not None)
                out[k] = vals[len(vals) // 2] if vals else None
            return out
        loaded = self.samples[:-1]
        base = median([r for r in loaded if span * WARMUP <= r["t"] < span * 2 * WARMUP] or loaded)
        end = median([r for r in loaded if r["t"] >= span * (1 - WARMUP)] or loaded[-3:])
        quiet = self.samples[-1]
        explained = lambda r: any(a - 1 <= r[1] and r[0] <= b for a, b, _ in self.faults)
        calls = sum(r[3] + r[4] for r in self.runs)
        failed = sum(r[4] for r in self.runs)
        faulty = [r for r in self.runs if r[4] and r[2] != "fault"]
        unexplained = [r for r in faulty if not explained(r)]
        lines = [f"Soak: {self.a.minutes} min, samples every {self.a.sample} s, "
                 f"{len(self.faults)} injected faults, {self.reloads} config reloads.", "",
                 "| figure | start | after warm-up (median, t={:.0f}–{:.0f} s) | end (median, t={:.0f}–{:.0f} s) | growth after warm-up | quiet, 15 s after the load (t={} s) |"
                 .format(span * WARMUP, span * 2 * WARMUP, span * (1 - WARMUP), span, quiet["t"]),
                 "|---|---|---|---|---|---|"]
        grew = []
        for k in ["rss_kb", "fds", "threads"]:
            g = (end[k] - base[k]) / base[k] * 100 if base[k] else 0.0
            # Descriptors under load count the connections open at that instant, so a leak
            # shows as descriptors still open once the load is gone.
            leaked = quiet[k] > base[k] * 1.05 if k == "fds" else g > 5
            if leaked:
                grew.append(k)
            lines.append(f"| {k} | {self.samples[0][k]} | {base[k]} | {end[k]} | {g:+.1f} % | {quiet[k]} |")
        for k in ["sessions", "upstream_in_flight"]:
            lines.append(f"| {k} | {self.samples[0][k]} | {base[k]} | {end[k]} | – | {quiet[k]} |")
        by_kind = {}
        for r in self.runs:
            d = by_kind.setdefault(r[2], [0, 0, 0])
            d[0] += r[3] + r[4]
            d[1] += r[4]
            d[2] += r[4] if (r[4] and r[2] != "fault" and not explained(r)) else 0
        lines += ["", f"Threads once quiet: {self.thread_names}."]
        lines += ["", "| calls | made | failed | failed outside a fault's window |", "|---|---|---|---|"]
        for k, (n, f, u) in sorted(by_kind.items()):
            lines.append(f"| {k} | {n} | {f} | {u} |")
        lines += ["", f"Calls made {calls}, failed {failed}; runs with failures outside a fault's "
                  f"window: {len(unexplained)}."]
        for r in unexplained[:10]:
            lines.append(f"- t={r[0] - t0:.0f}–{r[1] - t0:.0f} s {r[2]}: {r[4]} failed: {r[5][:3]}")
        for k, title in [("rss_kb", "RSS (kB)"), ("fds", "open file descriptors")]:
            xs = self.samples[:: max(1, len(self.samples) // 40)]
            lines += ["", "```mermaid", "xychart-beta", f'  title "Gateway {title} over the soak"',
                      "  x-axis \"seconds\" [" + ", ".join(str(s["t"]) for s in xs) + "]",
                      f"  y-axis \"{title}\"", "  line [" + ", ".join(str(s[k]) for s in xs) + "]",
                      "```"]
        text = "\n".join(lines) + "\n"
        with open(os.path.join(self.a.out, "soak.md"), "w") as f:
            f.write(text)
        print(text)
        print(f"(work dir with the gateway's log: {self.work})")
        return 1 if unexplained or grew else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--sample", type=float, default=10)
    ap.add_argument("--out", default="/tmp/switchboard-soak")
    a = ap.parse_args()
    if not 0.5 <= a.minutes <= 240:
        sys.exit("--minutes: 0.5..240")
    sys.exit(Soak(a).run())


if __name__ == "__main__":
    main()
