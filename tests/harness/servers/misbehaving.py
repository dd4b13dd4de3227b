#!/usr/bin/env python3
"""A deliberately badly behaved stdio MCP server, for the gateway's bad-input tests.

Tools: `echo` (works), `crash` (the process exits mid-call), `hang` (never answers),
`noisy` (prints a non-JSON line on stdout before answering). It also prints garbage on stdout
before its initialize answer. Standard library only.
"""
import json
import sys


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


TOOLS = [
    {"name": n, "description": d, "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}
    for n, d in [
        ("echo", "Echo the text back"),
        ("crash", "Exit the process while handling the call"),
        ("hang", "Never answer"),
        ("noisy", "Print garbage on stdout, then answer"),
        ("slow", "Answer after one second"),
    ]
]

for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    msg = json.loads(line)
    method, mid = msg.get("method"), msg.get("id")
    if mid is None:
        if method == "notifications/cancelled":
            p = msg.get("params", {})
            sys.stderr.write(f"misbehaving: cancelled request {p.get('requestId')} ({p.get('reason')})\n")
            sys.stderr.flush()
        continue  # notifications
    if method == "initialize":
        print("Starting misbehaving server v1... (this line is not JSON-RPC)", flush=True)
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "misbehaving", "version": "1.0"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        name = msg["params"]["name"]
        text = msg["params"].get("arguments", {}).get("text", "")
        if name == "crash":
            sys.stderr.write("misbehaving: crashing on purpose\n")
            sys.stderr.flush()
            sys.exit(3)
        if name == "hang":
            continue
        if name == "slow":
            import time
            time.sleep(1)
        if name == "noisy":
            print("{not json at all", flush=True)
            print("[1, 2, 3]", flush=True)
        send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": text}]}})
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": f"Method not found: {method}"}})
