#!/usr/bin/env python3
"""What a durable task adds to a call, per task store, measured in one run.

usage: python3 scripts/bench-tasks.py BIN_DIR [--calls N] [--tasks N] [--concurrency C]
                                      [--stores sqlite,redis,postgres]

BIN_DIR holds release builds of `switchboard` and `bench-upstream`. For each store a gateway
is started on 127.0.0.1 with `bench__slow` as an optional task tool (8 workers), and a
2026-07-28 client (plain HTTP/1.1 keep-alive, JSON answers) measures, against the same
gateway in the same run:

  1. sequential plain calls of bench__slow {ms: 0} (the direct call through the gateway),
  2. sequential tasks of the same call: `tools/call` declaring the tasks extension, then
     `tasks/get` polled back to back until `completed` (create latency and end-to-end),
  3. throughput with C client threads: plain calls/s, then tasks created-and-completed/s.

Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, database `test`) are the machine's;
each run uses a key prefix / schema of its own and removes it. Every loop is bounded in count
and by a deadline. Results print as Markdown rows.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

EXT = "io.modelcontextprotocol/tasks"
PG = "postgres://postgres@127.0.0.1:5432/test"


class Client:
    """One keep-alive connection speaking stateless 2026-07-28 requests."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method, name, params, tasks=False):
        caps = {"extensions": {EXT: {}}} if tasks else {}
        params = dict(params)
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": caps,
        }
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        self.conn.request("POST", "/mcp", body, {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": method,
            "mcp-name": name,
        })
        r = self.conn.getresponse()
        text = r.read().decode()
        if text.startswith("{"):
            return json.loads(text)
        for line in reversed(text.splitlines()):
            if line.startswith("data:"):
                return json.loads(line[5:])
        raise RuntimeError(f"no answer: {text[:200]}")

    def call(self):
        out = self.request("tools/call", "bench__slow",
                           {"name": "bench__slow", "arguments": {"ms": 0}})
        if out.get("result", {}).get("content", [{}])[0].get("text") != "slept 0 ms":
            raise RuntimeError(f"bad call answer: {out}")

    def task(self, deadline):
        """Create a task and poll it to completion: (create seconds, end-to-end seconds)."""
        t0 = time.perf_counter()
        out = self.request("tools/call", "bench__slow",
                           {"name": "bench__slow", "arguments": {"ms": 0}}, tasks=True)
        t1 = time.perf_counter()
        tid = out.get("result", {}).get("taskId")
        if not tid:
            raise RuntimeError(f"no task: {out}")
        while time.perf_counter() < deadline:
            got = self.request("tasks/get", tid, {"taskId": tid}, tasks=True)["result"]
            if got["status"] == "completed":
                if got["result"]["content"][0]["text"] != "slept 0 ms":
                    raise RuntimeError(f"bad task result: {got}")
                return t1 - t0, time.perf_counter() - t0
            if got["status"] != "working":
                raise RuntimeError(f"task ended {got['status']}: {got}")
        raise RuntimeError("task did not complete before the deadline")


def ms(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


def start(bin_dir, store_yaml, work):
    cfg = os.path.join(work, "gateway.yaml")
    with open(cfg, "w") as f:
        f.write(
            "tasks:\n" + store_yaml +
            "  workers: 8\n  poll_interval: 100ms\n  tools:\n    \"bench__slow\": {mode: optional}\n"
            "servers:\n  bench:\n    command: \"%s\"\n" % os.path.join(bin_dir, "bench-upstream"))
    p = subprocess.Popen([os.path.join(bin_dir, "switchboard"), "serve", "--listen", "127.0.0.1:0",
                          "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, env={**os.environ, "RUST_LOG": "warn", "NO_COLOR": "1"})
    deadline = time.time() + 60
    while time.time() < deadline:
        line = p.stderr.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/mcp", line or "")
        if m:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, int(m.group(1))
        if p.poll() is not None:
            break
    p.kill()
    raise RuntimeError("gateway did not start")


def threaded(port, count, conc, work_fn):
    """Run `count` units over `conc` threads; seconds taken."""
    per = [count // conc + (1 if i < count % conc else 0) for i in range(conc)]
    errors = []

    def run(n):
        c = Client(port)
        try:
            for _ in range(n):
                work_fn(c)
        except Exception as e:  # reported below
            errors.append(e)

    ts = [threading.Thread(target=run, args=(n,)) for n in per]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    took = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return took


def bench_store(name, store_yaml, args, cleanup):
    work = tempfile.mkdtemp(prefix="sb-bench-tasks-")
    p = None
    try:
        p, port = start(args.bin_dir, store_yaml.replace("{work}", work), work)
        c = Client(port)
        for _ in range(50):
            c.call()
        for _ in range(10):
            c.task(time.perf_counter() + 30)
        calls = []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            c.call()
            calls.append(time.perf_counter() - t0)
        creates, ends = [], []
        for _ in range(args.tasks):
            a, b = c.task(time.perf_counter() + 30)
            creates.append(a)
            ends.append(b)
        conc = args.concurrency
        call_s = threaded(port, args.calls * 2, conc, lambda cl: cl.call())
        task_s = threaded(port, args.tasks, conc, lambda cl: cl.task(time.perf_counter() + 60))
        return {
            "store": name,
            "call_p50": ms(calls, 0.5), "call_p99": ms(calls, 0.99),
            "create_p50": ms(creates, 0.5), "create_p99": ms(creates, 0.99),
            "end_p50": ms(ends, 0.5), "end_p99": ms(ends, 0.99),
            "calls_per_s": args.calls * 2 / call_s, "tasks_per_s": args.tasks / task_s,
        }
    finally:
        if p:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        cleanup()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--tasks", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--stores", default="sqlite,redis,postgres")
    args = ap.parse_args()
    if not (1 <= args.calls <= 100000 and 1 <= args.tasks <= 100000):
        sys.exit("--calls and --tasks: 1..100000")
    rows = []
    for store in args.stores.split(","):
        tag = uuid.uuid4().hex[:10]
        if store == "sqlite":
            yaml, cleanup = "  path: \"{work}/tasks.db\"\n", lambda: None
        elif store == "redis":
            prefix = f"sb-bench-tasks-{tag}:"
            yaml = f"  store: redis\n  url: \"redis://127.0.0.1:6379\"\n  key_prefix: \"{prefix}\"\n"

            def cleanup(prefix=prefix):
                keys = subprocess.run(["redis-cli", "--scan", "--pattern", prefix + "*"],
                                      capture_output=True, text=True).stdout.split()
                for i in range(0, len(keys), 500):
                    subprocess.run(["redis-cli", "DEL", *keys[i:i + 500]], capture_output=True)
        elif store == "postgres":
            schema = f"sb_bench_{tag}"
            subprocess.run(["psql", PG, "-qc", f"CREATE SCHEMA {schema}"], check=True)
            yaml = f"  store: postgres\n  url: \"{PG}?options=-csearch_path%3D{schema}\"\n"

            def cleanup(schema=schema):
                subprocess.run(["psql", PG, "-qc", f"DROP SCHEMA {schema} CASCADE"],
                               capture_output=True)
        else:
            sys.exit(f"unknown store {store}")
        rows.append(bench_store(store, yaml, args, cleanup))
        print(f"{store}: done", file=sys.stderr)
    print(f"| store | call p50 / p99 ms | task create p50 / p99 ms | task end-to-end p50 / p99 ms "
          f"| calls/s (c={args.concurrency}) | tasks/s (c={args.concurrency}) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['store']} | {r['call_p50']:.2f} / {r['call_p99']:.2f} "
              f"| {r['create_p50']:.2f} / {r['create_p99']:.2f} "
              f"| {r['end_p50']:.2f} / {r['end_p99']:.2f} "
              f"| {r['calls_per_s']:.0f} | {r['tasks_per_s']:.0f} |")


if __name__ == "__main__":
    main()
