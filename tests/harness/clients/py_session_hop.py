#!/usr/bin/env python3
"""A session-era (2025-11-25) client through a load balancer: opens one session with the
official Python SDK, calls TOOL N times, prints "PAUSE" and waits for a line on stdin (the
test stops a replica meanwhile), calls it N times more on the same session, then prints one
JSON object: the protocol version, each call's text or error, before and after. Elicitation
requests are accepted with {"name": "Ada"}.

usage: py_session_hop.py URL TOOL N
"""
import asyncio
import json
import sys

from mcp import Client, types


async def calls(c, tool, n):
    out = []
    for _ in range(n):
        try:
            r = await c.call_tool(tool, {})
            text = "\n".join(x.text for x in r.content if getattr(x, "type", "") == "text")
            out.append({"text": text, "isError": bool(r.is_error)})
        except Exception as e:  # a JSON-RPC or transport error
            out.append({"error": str(e)})
    return out


async def main():
    url, tool, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = {}
    async def elicitation(ctx, params):
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with Client(url, mode="legacy", elicitation_callback=elicitation) as c:
        out["protocol_version"] = c.protocol_version
        out["before"] = await calls(c, tool, n)
        print("PAUSE", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        out["after"] = await calls(c, tool, n)
    print(json.dumps(out), flush=True)


asyncio.run(main())
