#!/usr/bin/env python3
"""What each feature replicas share through Redis costs per call: two gateway replicas behind
HAProxy (round robin, no stickiness) on the machine's Redis, the same HTTP bench-upstream,
`switchboard load` of `up__echo`, one configuration after another:

  cluster only            `cluster:` (sessions, letters), nothing else shared
  + rate limit on Redis   a role with a budget no run can spend (`rate_limits.store: redis`)
  + cache on Redis, hits  `cache.store: redis`, every call the same (served from the near copy)
  cache on Redis, misses  `up__slow` (2 ms) cached with a 1 ms ttl, one call at a time: every
                          call misses, claims the key, stores its result and releases the
                          claim (its baseline: the same calls with the cache off)

Per configuration: calls/s, p50, gateway CPU µs per call (both replicas' utime + stime),
cache misses per call (`mcp_cache_misses_total` of both replicas),
Redis round trips per call (commands the replicas sent, counted with MONITOR over a separate
short run of 300 calls, so the timed run is not slowed), Redis commands per call including
those run inside scripts (INFO stats) and Redis CPU µs per call (INFO cpu). The first three
at --concurrency (32), the last and its own baseline at 1.

  python3 scripts/bench-shared-features.py BIN_DIR [--calls 20000] [--protocol modern|legacy]

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
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, haproxy, load, start, start_replica  # noqa: E402


def redis_info():
    """(commands processed, Redis CPU seconds) so far."""
    out = subprocess.run(["redis-cli", "-p", "6379", "INFO", "all"], capture_output=True,
                         text=True, check=True).stdout
    cmds = int(re.search(r"total_commands_processed:(\d+)", out).group(1))
    cpu = sum(float(re.search(rf"{k}:([\d.]+)", out).group(1))
              for k in ("used_cpu_user", "used_cpu_sys"))
    return cmds, cpu


def round_trips(sb, url, c, protocol, tool, args):
    """Commands clients sent Redis (not those scripts ran) during 300 calls, per call."""
    # Into a file (a pipe nobody reads during the run would fill and stall it), line-buffered
    # (redis-cli block-buffers otherwise, and the tail would be lost when it is stopped).
    with tempfile.TemporaryFile("w+") as log:
        mon = subprocess.Popen(["stdbuf", "-oL", "redis-cli", "-p", "6379", "MONITOR"],
                               stdout=log, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        _, total = load(sb, url, c, 300, tool=tool, protocol=protocol, args=args)
        time.sleep(0.3)
        mon.terminate()
        mon.wait(timeout=30)
        log.seek(0)
        out = log.read()
    sent = [l for l in out.splitlines() if " [" in l and " lua]" not in l
            and '"MONITOR"' not in l]
    return len(sent) / total


def misses(admins):
    """Cache misses so far over the replicas (`mcp_cache_misses_total` on each /metrics)."""
    total = 0
    for adm in admins:
        text = urllib.request.urlopen(f"http://127.0.0.1:{adm}/metrics", timeout=5).read().decode()
        m = re.search(r"^mcp_cache_misses_total (\d+)", text, re.M)
        total += int(m.group(1)) if m else 0
    return total


def config(prefix, up_url, extra):
    return (f"cluster: {{url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}c:\"}}\n"
            "admin: {listen: \"127.0.0.1:0\"}\n"
            f"{extra}"
            f"servers:\n  up:\n    url: {up_url}\n    protocol: legacy\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--protocol", default="modern")
    a = ap.parse_args()
    sb = os.path.join(a.bin, "switchboard")
    up, up_url = start([os.path.join(a.bin, "bench-upstream"), "--http", "127.0.0.1:0"],
                       "listening on ")
    procs = [up]
    prefix = f"sbbench:{os.getpid()}:"
    limit = ("auth: {anonymous_role: bench}\n"
             "roles:\n  bench: {allow: [\"*\"], rate_limit: 1000000000/min}\n"
             f"rate_limits: {{store: redis, key_prefix: \"{prefix}rl:\"}}\n")
    cache = (f"cache: {{store: redis, key_prefix: \"{prefix}cache:\", auto: false, "
             "tools: {\"up__echo\": {}}}\n")
    miss = (f"cache: {{store: redis, key_prefix: \"{prefix}miss:\", auto: false, "
            "tools: {\"up__slow\": {ttl: 1ms}}}\n")
    echo = ("up__echo", '{"text":"hello"}')
    slow = ("up__slow", '{"ms":2}')
    runs = [
        ("cluster only", "cache: {enabled: false}\n", a.concurrency, echo),
        ("+ rate limit on Redis", "cache: {enabled: false}\n" + limit, a.concurrency, echo),
        ("+ cache on Redis, hits", limit + cache, a.concurrency, echo),
        ("cluster only, `slow` 2 ms, one at a time", "cache: {enabled: false}\n", 1, slow),
        ("cache on Redis, misses, one at a time", miss, 1, slow),
    ]
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, RUST_LOG="warn")
            for name, extra, c, (tool, args) in runs:
                cfg = os.path.join(tmp, "gw.yaml")
                with open(cfg, "w") as f:
                    f.write(config(prefix, up_url, extra))
                gws, ends = [], []
                for _ in range(2):
                    p, mcp, admin = start_replica(sb, cfg, env)
                    procs.append(p)
                    gws.append(p)
                    ends.append((mcp, admin))
                hap, hurl = haproxy(tmp, ends)
                procs.append(hap)
                n = a.calls if c > 1 else max(1000, a.calls // 10)
                c0 = sum(cpu_seconds(p.pid) for p in gws)
                m0 = misses([adm for _, adm in ends])
                k0, r0 = redis_info()
                r, total = load(sb, hurl, c, n, tool=tool, protocol=a.protocol, args=args)
                k1, r1 = redis_info()
                missed = (misses([adm for _, adm in ends]) - m0) / total
                us = (sum(cpu_seconds(p.pid) for p in gws) - c0) * 1e6 / total
                trips = round_trips(sb, hurl, c, a.protocol, tool, args)
                rows.append((name, c, r["rps"], r["latency_ms"]["p50"], us, missed, trips,
                             (k1 - k0) / total, (r1 - r0) * 1e6 / total))
                hap.kill()
                hap.wait()
                for p in gws:
                    p.kill()
                    p.wait()
        print(f"{a.protocol}, 2 replicas behind HAProxy, {a.calls} calls per run at "
              f"c={a.concurrency}, {max(1000, a.calls // 10)} at c=1 (+ warm-up)")
        print("| configuration | c | calls/s | p50 ms | gateway CPU µs/call | cache misses/call "
              "| Redis round trips/call | Redis commands/call (with scripts') | Redis CPU µs/call |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, c, rps, p50, us, missed, trips, cmds, rcpu in rows:
            print(f"| {name} | {c} | {rps:.0f} | {p50:.3f} | {us:.1f} | {missed:.2f} | {trips:.3f} "
                  f"| {cmds:.3f} | {rcpu:.1f} |")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        keys = subprocess.run(["redis-cli", "-p", "6379", "--scan", "--pattern", f"{prefix}*"],
                              capture_output=True, text=True).stdout.split()
        for i in range(0, len(keys), 500):
            subprocess.run(["redis-cli", "-p", "6379", "DEL", *keys[i:i + 500]],
                           capture_output=True)


if __name__ == "__main__":
    main()
