"""Shared by the benchmark scripts: a process's CPU time, and starting a server and reading the
address it prints."""

import json
import os
import subprocess
import sys
import threading

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of process `pid`, in seconds (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


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


def load(driver, url, c, n, tool="up__echo", protocol="legacy"):
    """`switchboard load` of `tool` (`{"text":"hello"}`) at `url`: c in flight, n calls after a
    warm-up of n/10 (50–2000); (the JSON report, calls made in all). Every call must succeed."""
    warm = max(50, min(2000, n // 10))
    out = subprocess.run(
        [driver, "load", "--url", url, "--protocol", protocol, "--tool", tool,
         "--args", '{"text":"hello"}', "--json", "--no-progress",
         "-c", str(c), "-n", str(n), "--warmup", str(warm)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    r = json.loads(out.stdout)
    assert r["ok"] == r["requests"], r
    return r, n + warm
