"""Shared by the benchmark scripts: a process's CPU time, and starting a server and reading the
address it prints."""

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
