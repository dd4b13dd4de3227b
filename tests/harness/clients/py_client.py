#!/usr/bin/env python3
"""Drive a server (the gateway) with the official Python MCP SDK client and print what happened
as one JSON object, for the Rust integration tests to assert on.

usage: py_client.py (--url URL | --sse URL | --stdio CMD [ARG...] --) [--mode legacy|auto]
                    [--call NAME JSON]... [--read URI]...

Sampling answers "42", elicitation accepts {"name": "Ada"}, roots are [file:///tmp/project-a];
progress and log messages received
during each call are recorded with it.
"""
import asyncio
import json
import sys

from mcp import Client, StdioServerParameters, types
from mcp.client.sse import sse_client


def parse_args(argv):
    opts = {"url": None, "sse": None, "stdio": None, "mode": "legacy", "calls": [], "reads": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--url":
            opts["url"] = argv[i + 1]; i += 2
        elif a == "--sse":  # the 2024-11-05 HTTP+SSE transport; URL is the GET stream's
            opts["sse"] = argv[i + 1]; i += 2
        elif a == "--stdio":
            j = argv.index("--", i)
            opts["stdio"] = argv[i + 1:j]; i = j + 1
        elif a == "--mode":
            opts["mode"] = argv[i + 1]; i += 2
        elif a == "--call":
            opts["calls"].append((argv[i + 1], json.loads(argv[i + 2]))); i += 3
        elif a == "--read":
            opts["reads"].append(argv[i + 1]); i += 2
        else:
            raise SystemExit(f"unknown argument {a}")
    return opts


async def main():
    opts = parse_args(sys.argv[1:])
    logs = []

    async def sampling(ctx, params):
        return types.CreateMessageResult(role="assistant", content=types.TextContent(type="text", text="42"), model="test-model")

    async def elicitation(ctx, params):
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def list_roots(ctx):
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/project-a", name="project-a")])

    async def logging_cb(params):
        logs.append({"level": params.level, "data": params.data})

    if opts["url"]:
        target = opts["url"]
    elif opts["sse"]:
        target = sse_client(opts["sse"])
    else:
        target = StdioServerParameters(command=opts["stdio"][0], args=opts["stdio"][1:])
    out = {"tools": [], "calls": [], "reads": []}
    async with Client(target, mode=opts["mode"], sampling_callback=sampling,
                      elicitation_callback=elicitation, logging_callback=logging_cb,
                      list_roots_callback=list_roots) as c:
        out["protocol_version"] = c.protocol_version
        tools = await c.list_tools()
        out["tools"] = [t.name for t in tools.tools]
        for name, args in opts["calls"]:
            progress = []

            async def on_progress(p, total, message, progress=progress):
                progress.append([p, total, message])

            logs.clear()
            entry = {"name": name}
            try:
                r = await c.call_tool(name, args, progress_callback=on_progress)
                entry["isError"] = bool(r.is_error)
                entry["text"] = "\n".join(x.text for x in r.content if getattr(x, "type", "") == "text")
            except Exception as e:  # a JSON-RPC error
                entry["error"] = str(e)
            entry["progress"] = progress
            entry["logs"] = list(logs)
            out["calls"].append(entry)
        for uri in opts["reads"]:
            r = await c.read_resource(uri)
            out["reads"].append({"uri": uri, "text": "".join(getattr(x, "text", "") for x in r.contents)})
    print(json.dumps(out))


asyncio.run(main())
