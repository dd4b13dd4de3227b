#!/usr/bin/env python3
"""Where a profiled gateway's CPU goes, by concern: reads `perf script` output (one sample per
block: a header line, then its frames, innermost first) and counts each sample under the first
concern whose pattern one of its frames matches. User-space frames of a release build are
mostly the leaf only (no frame pointers), so user time lands where it is spent; kernel time
is told apart by the system call it serves (socket writes and reads, file writes of the audit
journal, waits and wake-ups).

  perf record -F 2999 -g -p GATEWAY_PID -o perf.data -- sleep 4     (while a load runs)
  perf script -i perf.data > samples.txt
  python3 scripts/profile-by-concern.py samples.txt
"""
import sys, collections, re
# Each sample: a header line (comm), then one frame per line (innermost first), blank line.
rules = [
    ("audit trail (journal append, SQLite import, record, hash)", r"switchboard_audit|sqlite3|SqliteSink|audit_record|sha2::|ext4_|ksys_write|__libc_write|__libc_pwrite"),
    ("authentication (API key)", r"auth::Authenticator|authenticate"),
    ("rate limit", r"rate_limit|ratelimit|Limits::|gcra|limiter"),
    ("metrics", r"metrics::|metrics_exporter|record_request"),
    ("tracing", r"tracing::|tracing_core|tracing_subscriber"),
    ("JSON (serde_json, raw maps)", r"serde_json|rawmap|RawMap|serde_core"),
    ("hyper + http (server and upstream client)", r"\s(<?hyper::|httparse|<?http::)"),
    ("socket writes (writev/sendmsg)", r"writev|sock_write_iter|tcp_sendmsg|tcp_write_xmit"),
    ("socket reads (recv)", r"recvfrom|tcp_recvmsg|sock_read_iter"),
    ("waiting/waking (epoll, futex, scheduler)", r"epoll_wait|futex|schedule|try_to_wake_up|finish_task_switch|park"),
    ("tokio runtime", r"tokio::"),
    ("memory (jemalloc, memmove)", r"_rjem_|memmove|memcpy|je_"),
    ("switchboard gateway/upstream/protocol code", r"switchboard_"),
]
counts = collections.Counter(); total = 0
frames = []
def flush():
    global total
    if not frames: return
    total += 1
    text = "\n".join(frames)
    for name, pat in rules:
        if re.search(pat, text):
            counts[name] += 1; break
    else:
        counts["other (kernel net stack, axum, bytes, …)"] += 1
for line in open(sys.argv[1]):
    if not line.strip():
        flush(); frames = []; continue
    if not line.startswith((" ", "\t")):
        flush(); frames = []; continue
    frames.append(line.strip())
flush()
for name, n in counts.most_common():
    print(f"| {name} | {n*100/total:.1f} % |")
print("samples", total)
