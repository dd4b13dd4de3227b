#!/usr/bin/env python3
"""A/B of the forwarding path: two switchboard builds serving at once in front of the same
bench-upstream, driven in interleaved rounds by `switchboard load`; gateway CPU per call from
/proc/PID/stat (utime + stime) around each run, median of the rounds.

  python3 scripts/ab-forwarding.py BEFORE_DIR AFTER_DIR [--rounds 5] [--calls 20000] [--sse] [--admin]
                                   [--concurrency 32] [--fail-over PCT]

BEFORE_DIR / AFTER_DIR hold release builds of `switchboard` and `bench-upstream` (e.g.
target/release of two checkouts). The load driver and the upstream come from AFTER_DIR.
Everything runs on 127.0.0.1; every run is bounded in calls (and by a 300 s timeout).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, load, start, switches  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--sse", action="store_true")
    ap.add_argument("--fail-over", type=float, default=None, metavar="PCT",
                    help="exit 3 when AFTER's median CPU per call is more than PCT %% above BEFORE's")
    ap.add_argument("--admin", action="store_true",
                    help="also serve the admin listener (API and dashboard), which nobody looks at")
    ap.add_argument("--stack", choices=["none", "after", "both"], default="none",
                    help="the common features on (API key, a role with a rate limit, SQLite audit, "
                         "a cache rule for another tool) for AFTER or for both: with the same build "
                         "twice and `after`, what that stack costs")
    a = ap.parse_args()
    after_bin = os.path.join(a.after, "switchboard")
    up_cmd = [os.path.join(a.after, "bench-upstream"), "--http", "127.0.0.1:0"]
    if a.sse:
        up_cmd.append("--sse")
    up, up_url = start(up_cmd, "listening on ")
    procs = [up]
    failed = False
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = f"cache: {{enabled: false}}\nservers:\n  up:\n    url: {up_url}\n    protocol: legacy\n"
            if a.admin:
                base += "admin: {listen: 127.0.0.1:0}\n"
            env = dict(os.environ, RUST_LOG="warn")
            gws, keys = {}, {}
            for name, d in (("before", a.before), ("after", a.after)):
                cfg = os.path.join(tmp, f"{name}.yaml")
                stacked = a.stack == "both" or (a.stack == "after" and name == "after")
                with open(cfg, "w") as f:
                    if stacked:
                        f.write(base.replace("cache: {enabled: false}\n", "") + f"""auth:
  api_keys: {{file: {tmp}/{name}-keys.json}}
roles:
  bench: {{allow: ["*"], rate_limit: 100000000/min}}
audit: {{path: {tmp}/{name}-audit.db}}
cache:
  tools: {{"up__slow": {{ttl: 1m}}}}
""")
                    else:
                        f.write(base)
                if stacked:
                    keys[name] = subprocess.run(
                        [os.path.join(d, "switchboard"), "keys", "create", "--name", "bench",
                         "--role", "bench", "--config", cfg],
                        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
                p, url = start([os.path.join(d, "switchboard"), "serve", "--listen", "127.0.0.1:0",
                                "--config", cfg], "switchboard listening on ", env)
                procs.append(p)
                gws[name] = (p, re.sub(r"\s.*$", "", url))
            results = {name: [] for name in gws}
            order = list(gws.items())
            for i in range(a.rounds):
                # ABBA: alternate which build goes first, so drift within a round hits both.
                for name, (p, url) in (order if i % 2 == 0 else order[::-1]):
                    c0, s0 = cpu_seconds(p.pid), switches(p.pid)
                    headers = [f"X-API-Key: {keys[name]}"] if name in keys else []
                    r, total = load(after_bin, url, a.concurrency, a.calls, headers=headers)
                    us = (cpu_seconds(p.pid) - c0) * 1e6 / total
                    sw = (switches(p.pid) - s0) / total
                    results[name].append((us, r["rps"], r["latency_ms"]["p50"], sw))
            kind = "SSE" if a.sse else "JSON"
            if a.stack != "none":
                kind += f" (common features on: {a.stack})"
            print(f"{kind}, c={a.concurrency}, {a.calls} calls per run, {a.rounds} rounds interleaved (order alternating)")
            print("| build | gateway CPU µs/call (median) | all rounds | calls/s (median) | p50 ms (median) | context switches/call (median) |")
            print("|---|---|---|---|---|---|")
            for name, runs in results.items():
                cpu = statistics.median(u for u, _, _, _ in runs)
                rps = statistics.median(r for _, r, _, _ in runs)
                p50 = statistics.median(p for _, _, p, _ in runs)
                sw = statistics.median(w for _, _, _, w in runs)
                every = ", ".join(f"{u:.1f}" for u, _, _, _ in runs)
                print(f"| {name} | {cpu:.1f} | {every} | {rps:.0f} | {p50:.3f} | {sw:.2f} |")
            if a.fail_over is not None:
                before = statistics.median(u for u, _, _, _ in results["before"])
                after = statistics.median(u for u, _, _, _ in results["after"])
                change = (after / before - 1) * 100
                print(f"CPU per call: {change:+.1f} % (limit +{a.fail_over:.0f} %)")
                if change > a.fail_over:
                    failed = True
    finally:
        for p in procs:
            p.kill()
            p.wait()
    if failed:
        sys.exit(3)


if __name__ == "__main__":
    main()
