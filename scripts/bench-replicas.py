#!/usr/bin/env python3
"""Calls/s through HAProxy (round-robin, no stickiness) in front of 1, 2 and 3 gateway
replicas sharing one Redis (`cluster:`), against the same HTTP bench-upstream, driven by
`switchboard load`; and the direct call to the upstream in the same run. Reports, per replica
count: calls/s, p50/p99, gateway CPU per call (all replicas' utime + stime over the calls),
and the Redis commands the run cost per call (INFO commandstats before and after).

  python3 scripts/bench-replicas.py BIN_DIR [--calls 20000] [--concurrency 32] [--protocol legacy|modern]

BIN_DIR holds release builds of `switchboard` and `bench-upstream`. Needs haproxy and a Redis
on 127.0.0.1:6379 (keys under a prefix of its own). Everything runs on 127.0.0.1; every run
is bounded in calls (and by a 300 s timeout).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, haproxy, load, start, start_replica  # noqa: E402


def redis_commands():
    """Total commands Redis has processed (INFO stats)."""
    out = subprocess.run(["redis-cli", "-p", "6379", "INFO", "stats"], capture_output=True,
                         text=True, check=True).stdout
    return int(re.search(r"total_commands_processed:(\d+)", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--protocol", default="legacy")
    a = ap.parse_args()
    sb = os.path.join(a.bin, "switchboard")
    up, up_url = start([os.path.join(a.bin, "bench-upstream"), "--http", "127.0.0.1:0"],
                       "listening on ")
    procs = [up]
    rows = []
    try:
        # The direct call, same run.
        r, _ = load(sb, up_url, a.concurrency, a.calls, tool="echo", protocol=a.protocol)
        rows.append(("direct to the upstream", r["rps"], r["latency_ms"]["p50"],
                     r["latency_ms"]["p99"], None, None))
        prefix = f"sbbench:{os.getpid()}:"
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "gw.yaml")
            with open(cfg, "w") as f:
                f.write(f"cluster: {{url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\"}}\n"
                        "admin: {listen: \"127.0.0.1:0\"}\ncache: {enabled: false}\n"
                        f"servers:\n  up:\n    url: {up_url}\n    protocol: legacy\n")
            env = dict(os.environ, RUST_LOG="warn,switchboard=info")
            for n in (1, 2, 3):
                gws, ends = [], []
                for _ in range(n):
                    p, mcp, admin = start_replica(sb, cfg, env)
                    procs.append(p)
                    gws.append(p)
                    ends.append((mcp, admin))
                hap, hurl = haproxy(tmp, ends)
                procs.append(hap)
                c0 = sum(cpu_seconds(p.pid) for p in gws)
                k0 = redis_commands()
                r, total = load(sb, hurl, a.concurrency, a.calls, protocol=a.protocol)
                k1 = redis_commands()
                us = (sum(cpu_seconds(p.pid) for p in gws) - c0) * 1e6 / total
                rows.append((f"{n} replica{'s' if n > 1 else ''} behind HAProxy", r["rps"],
                             r["latency_ms"]["p50"], r["latency_ms"]["p99"], us,
                             (k1 - k0) / total))
                hap.kill()
                hap.wait()
                for p in gws:
                    p.kill()
                    p.wait()
        print(f"{a.protocol}, c={a.concurrency}, {a.calls} calls per run (+ warm-up)")
        print("| target | calls/s | p50 ms | p99 ms | gateway CPU µs/call (all replicas) | Redis commands/call |")
        print("|---|---|---|---|---|---|")
        for name, rps, p50, p99, us, redis in rows:
            cpu = "—" if us is None else f"{us:.1f}"
            rc = "—" if redis is None else f"{redis:.4f}"
            print(f"| {name} | {rps:.0f} | {p50:.3f} | {p99:.3f} | {cpu} | {rc} |")
    finally:
        for p in procs:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
