#!/usr/bin/env python3
"""The reference document's company API as a plain HTTP/JSON service (not MCP), for the
gateway's HTTP API tools: path, query, header and body parameters, error statuses, HTML, an
image, a slow endpoint, and what it received (to check what the gateway sends).

usage: company_http_api.py PORT        (listens on 127.0.0.1:PORT; standard library only)

  GET  /employees/{id}               an employee (404 JSON if unknown)
  GET  /employees?department=&limit= employees, filtered
  POST /projects/{id}/status         JSON body {status, note}; needs header X-Request-Source
  GET  /search?q=&tag=a&tag=b        echoes the parsed query
  GET  /files/{name}                 echoes the decoded path segment
  GET  /boom                         500 with an HTML body
  GET  /logo                         a PNG
  GET  /slow?ms=N                    answers after N ms
  GET  /headers                      the request headers it received
  GET  /stats                        requests served, by "METHOD path" (without query)
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

EMPLOYEES = {
    "E001": {"id": "E001", "name": "Ada Lovelace", "department": "engineering", "role": "staff engineer",
             "salary": 185000, "current_projects": ["analytical-engine", "notes-g"]},
    "E002": {"id": "E002", "name": "Grace Hopper", "department": "engineering", "role": "principal",
             "salary": 210000, "current_projects": ["cobol"]},
    "E003": {"id": "E003", "name": "Katherine Johnson", "department": "research", "role": "analyst",
             "salary": 150000, "current_projects": ["trajectories"]},
}
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
STATS = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def count(self, path):
        with LOCK:
            key = f"{self.command} {path}"
            STATS[key] = STATS.get(key, 0) + 1

    def do_GET(self):
        url = urlsplit(self.path)
        raw = url.path
        q = parse_qs(url.query)
        parts = raw.split("/")
        if raw != "/stats":
            self.count(raw)
        if raw == "/stats":
            with LOCK:
                return self.send(200, dict(STATS))
        if len(parts) == 3 and parts[1] == "employees":
            e = EMPLOYEES.get(unquote(parts[2]))
            return self.send(200, e) if e else self.send(404, {"error": f"no employee {unquote(parts[2])}"})
        if raw == "/employees":
            dept = q.get("department", [None])[0]
            found = [e for e in EMPLOYEES.values() if dept is None or e["department"] == dept]
            limit = int(q.get("limit", [len(found)])[0])
            return self.send(200, {"employees": found[:limit], "count": len(found[:limit])})
        if raw == "/search":
            return self.send(200, {"q": q.get("q", [None])[0], "tags": q.get("tag", [])})
        if len(parts) == 3 and parts[1] == "files":
            return self.send(200, {"name": unquote(parts[2]), "raw": parts[2]})
        if raw == "/boom":
            return self.send(500, b"<html><body><h1>Internal Server Error</h1></body></html>", "text/html")
        if raw == "/logo":
            return self.send(200, PNG, "image/png")
        if raw == "/slow":
            time.sleep(int(q.get("ms", ["1000"])[0]) / 1000)
            return self.send(200, {"slept": True})
        if raw == "/headers":
            return self.send(200, {k.lower(): v for k, v in self.headers.items()})
        self.send(404, {"error": f"no route {raw}"})

    def do_POST(self):
        url = urlsplit(self.path)
        parts = url.path.split("/")
        self.count(url.path)
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if len(parts) == 4 and parts[1] == "projects" and parts[3] == "status":
            if "X-Request-Source" not in self.headers:
                return self.send(400, {"error": "header X-Request-Source is required"})
            if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
                return self.send(415, {"error": "send JSON"})
            try:
                body = json.loads(raw)
            except ValueError:
                return self.send(400, {"error": "body is not JSON"})
            if body.get("status") not in ("planned", "active", "done"):
                return self.send(422, {"error": f"bad status {body.get('status')!r}"})
            return self.send(200, {"project": unquote(parts[2]), "status": body["status"],
                                   "note": body.get("note"), "source": self.headers["X-Request-Source"],
                                   "updated": True})
        self.send(404, {"error": f"no route {url.path}"})


def main():
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"company HTTP API listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
