"""Shared by the benchmark scripts: a process's CPU time, and starting a server and reading the
address it prints."""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of process `pid`, in seconds (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def switches(pid):
    """Context switches (voluntary and not) of every thread of process `pid` so far."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    return total


def start(cmd, marker, env=None):
    """Start `cmd`; wait for a stderr line containing `marker`; return (process, rest of line)."""
    p = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env,
    )
    for line in p.stderr:
        if marker in line:
            rest = line.split(marker, 1)[1].strip()
            # Keep draining stderr so the child never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, rest
    p.kill()
    sys.exit(f"{cmd[0]} exited before saying {marker!r}")


def load(driver, url, c, n, tool="up__echo", protocol="legacy", args='{"text":"hello"}', headers=()):
    """`switchboard load` of `tool` (with `args`) at `url`: c in flight, n calls after a
    warm-up of n/10 (50–2000); (the JSON report, calls made in all). Every call must succeed."""
    warm = max(50, min(2000, n // 10))
    out = subprocess.run(
        [driver, "load", "--url", url, "--protocol", protocol, "--tool", tool,
         "--args", args, "--json", "--no-progress",
         "-c", str(c), "-n", str(n), "--warmup", str(warm)]
        + [arg for h in headers for arg in ("-H", h)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    r = json.loads(out.stdout)
    assert r["ok"] == r["requests"], r
    return r, n + warm


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ready(admin):
    """Until `admin`/readyz answers 200 (10 s at most)."""
    for _ in range(200):
        try:
            if urllib.request.urlopen(f"{admin}/readyz", timeout=1).status == 200:
                return
        except Exception:
            pass
        time.sleep(0.05)
    sys.exit(f"{admin} never ready")


def start_replica(sb, cfg, env):
    """A gateway replica serving `cfg`; (process, MCP port, admin port) from what it prints,
    once it is ready."""
    p = subprocess.Popen([sb, "serve", "--listen", "127.0.0.1:0", "--config", cfg],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=env)
    admin = None
    for line in p.stderr:
        m = re.search(r"switchboard admin on http://127.0.0.1:(\d+)", line)
        if m:
            admin = int(m.group(1))
        m = re.search(r"switchboard listening on http://127.0.0.1:(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            wait_ready(f"http://127.0.0.1:{admin}")
            return p, int(m.group(1)), admin
    p.kill()
    sys.exit("a replica exited before listening")


def haproxy(tmp, replicas):
    """HAProxy (round robin, no stickiness, `/readyz` checks) in front of `replicas` — (MCP
    port, admin port) pairs —, given 1.5 s to see them up; (process, its MCP URL)."""
    port = free_port()
    cfg = os.path.join(tmp, f"haproxy-{port}.cfg")
    with open(cfg, "w") as f:
        f.write("global\n  maxconn 1024\ndefaults\n  mode http\n  timeout connect 2s\n"
                "  timeout client 30s\n  timeout server 30s\n"
                f"frontend mcp\n  bind 127.0.0.1:{port}\n  default_backend r\n"
                "backend r\n  balance roundrobin\n  option httpchk GET /readyz\n"
                "  http-check expect status 200\n  default-server inter 500ms\n")
        for i, (mcp, adm) in enumerate(replicas):
            f.write(f"  server r{i} 127.0.0.1:{mcp} check port {adm}\n")
    p = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    return p, f"http://127.0.0.1:{port}/mcp"
