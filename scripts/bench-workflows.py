#!/usr/bin/env python3
"""What a workflow costs the gateway per step, and a fan-out of 100, measured in one run.

usage: python3 scripts/bench-workflows.py BIN_DIR [--calls N] [--steps S] [--fanout F] [--rounds R]

BIN_DIR holds release builds of `switchboard` and `bench-upstream`. One gateway is started on
127.0.0.1 with `bench-upstream` over Streamable HTTP as the server `bench` and three workflows:

  chain    S steps, each `bench__echo`, each waiting for the one before (sequential);
  wide     S independent `bench__echo` steps (all at once);
  fan      one `for_each` step over `.inputs.items`, F items, all in flight at once.

`switchboard load` (this build, legacy sessions, concurrency 1) then drives, in interleaved
rounds (medians reported):

  direct   N calls of `bench__echo` (the direct call through the gateway);
  chain    N / S calls of the chain (the same number of `bench__echo` calls);
  wide     N / S calls of the wide workflow;
  fan      R calls of the fan-out, against R runs of F direct calls at concurrency F.

Gateway CPU is read from /proc/PID/stat (utime + stime) around each load run. Every run is
bounded in calls and by a 300 s timeout. Results print as Markdown.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, start  # noqa: E402


def load(driver, url, tool, args, c, n, warm):
    out = subprocess.run(
        [driver, "load", "--url", url, "--protocol", "legacy", "--tool", tool,
         "--args", json.dumps(args), "--json", "--no-progress",
         "-c", str(c), "-n", str(n), "--warmup", str(warm)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    r = json.loads(out.stdout)
    assert r["ok"] == r["requests"], r
    return r


def workflows(steps, fanout):
    chain = []
    for i in range(steps):
        s = {"id": f"s{i}", "tool": "bench__echo", "args": {"text": "${{ .inputs.text }}"}}
        if i:
            s["needs"] = [f"s{i - 1}"]
        chain.append(s)
    wide = [{"id": f"s{i}", "tool": "bench__echo", "args": {"text": "${{ .inputs.text }}"}}
            for i in range(steps)]
    fan = [{"id": "each", "tool": "bench__echo", "for_each": ".inputs.items",
            "concurrency": fanout, "args": {"text": "${{ .item }}"}}]
    return {
        "chain": {"steps": chain, "max_parallel": 1},
        "wide": {"steps": wide, "max_parallel": steps},
        "fan": {"steps": fan, "max_parallel": fanout},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--fanout", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    sb = os.path.join(a.bin_dir, "switchboard")
    up, up_url = start([os.path.join(a.bin_dir, "bench-upstream"), "--http", "127.0.0.1:0"],
                       "listening on ")
    procs = [up]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "gw.yaml")
            doc = {"cache": {"enabled": False},
                   "servers": {"bench": {"url": up_url, "protocol": "legacy"}},
                   "workflows": workflows(a.steps, a.fanout)}
            with open(cfg, "w") as f:
                json.dump(doc, f)   # JSON is YAML
            gw, url = start([sb, "serve", "--listen", "127.0.0.1:0", "--config", cfg],
                            "switchboard listening on ", dict(os.environ, RUST_LOG="warn"))
            procs.append(gw)
            url = re.sub(r"\s.*$", "", url)
            items = [f"item-{i}" for i in range(a.fanout)]
            n_wf = max(1, a.calls // a.steps)
            runs = {
                "direct": ("bench__echo", {"text": "hello"}, 1, a.calls, a.calls),
                "chain": ("workflows__chain", {"text": "hello"}, 1, n_wf, n_wf * a.steps),
                "wide": ("workflows__wide", {"text": "hello"}, 1, n_wf, n_wf * a.steps),
                "fan": ("workflows__fan", {"items": items}, 1, 20, 20 * a.fanout),
                "fan-direct": ("bench__echo", {"text": "hello"}, a.fanout, 20 * a.fanout, 20 * a.fanout),
            }
            results = {k: [] for k in runs}
            for i in range(a.rounds):
                order = list(runs.items())
                for name, (tool, args, c, n, step_calls) in (order if i % 2 == 0 else order[::-1]):
                    c0 = cpu_seconds(gw.pid)
                    r = load(sb, url, tool, args, c, n, max(5, n // 20))
                    cpu = cpu_seconds(gw.pid) - c0
                    warm_calls = max(5, n // 20) * (step_calls // n)
                    results[name].append({
                        "us_per_step": cpu * 1e6 / (step_calls + warm_calls),
                        "p50": r["latency_ms"]["p50"], "p99": r["latency_ms"]["p99"],
                        "rps": r["rps"], "wall_s": n / r["rps"] if r["rps"] else 0,
                    })

            def med(name, key):
                return statistics.median(x[key] for x in results[name])

            print(f"{a.steps}-step workflows vs direct calls; concurrency 1; {a.rounds} rounds interleaved, medians")
            print()
            print("| what | calls per run | gateway CPU µs per bench__echo call | p50 ms per call | p99 ms |")
            print("|---|---|---|---|---|")
            for name in ("direct", "chain", "wide"):
                n = runs[name][3]
                print(f"| {name} | {n} | {med(name, 'us_per_step'):.1f} | {med(name, 'p50'):.3f} | {med(name, 'p99'):.3f} |")
            direct = med("direct", "p50")
            print()
            print(f"chain p50 / ({a.steps} × direct p50) = {med('chain', 'p50') / (a.steps * direct):.2f}; "
                  f"wide p50 / direct p50 = {med('wide', 'p50') / direct:.2f}")
            print()
            print(f"| fan-out of {a.fanout} | gateway CPU µs per item | wall ms per {a.fanout} items (p50) |")
            print("|---|---|---|")
            print(f"| one workflow, for_each × {a.fanout} | {med('fan', 'us_per_step'):.1f} | {med('fan', 'p50'):.2f} |")
            fan_direct_wall = statistics.median(x["wall_s"] for x in results["fan-direct"]) * 1000 / 20
            print(f"| {a.fanout} direct calls at concurrency {a.fanout} | {med('fan-direct', 'us_per_step'):.1f} | {fan_direct_wall:.2f} (run time / 20) |")
    finally:
        for p in procs:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
