#!/usr/bin/env python3
"""A Python MCP SDK (MCPServer, the former FastMCP) upstream for the gateway's tests.

stdio by default; `--http PORT` serves Streamable HTTP on 127.0.0.1:PORT/mcp; `--sse PORT` the legacy HTTP+SSE
transport on 127.0.0.1:PORT/sse.
"""
import sys

from pydantic import BaseModel

from mcp.server.mcpserver import Context, MCPServer
from mcp import types

mcp = MCPServer("py-upstream")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.tool()
async def count_with_progress(steps: int, ctx: Context) -> str:
    """Count to `steps`, reporting progress at each step."""
    for i in range(1, steps + 1):
        await ctx.report_progress(i, steps, f"step {i}")
    await ctx.info(f"counted to {steps}")
    return f"counted {steps}"


@mcp.tool()
async def ask_model(question: str, ctx: Context) -> str:
    """Ask the client's model (sampling) and return its answer."""
    r = await ctx.session.create_message(
        messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text=question))],
        max_tokens=50,
        related_request_id=ctx.request_id,
    )
    return f"model said: {r.content.text}"


@mcp.tool()
async def show_roots(ctx: Context) -> str:
    """List the client's roots (roots/list) during the call."""
    r = await ctx.session.list_roots()
    return ",".join(str(root.uri) for root in r.roots)


@mcp.tool()
async def slow_ask(question: str, ctx: Context) -> str:
    """Wait a second, then ask the client's model (sampling)."""
    import anyio
    await anyio.sleep(1)
    r = await ctx.session.create_message(
        messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text=question))],
        max_tokens=50,
        related_request_id=ctx.request_id,
    )
    return f"model said: {r.content.text}"


class Name(BaseModel):
    name: str


@mcp.tool()
async def ask_name(ctx: Context) -> str:
    """Ask the user for a name (elicitation) and greet them."""
    r = await ctx.elicit("What is your name?", Name)
    if r.action == "accept" and r.data:
        return f"hello {r.data.name}"
    return f"no name ({r.action})"


@mcp.resource("py://greeting")
def greeting() -> str:
    """A static greeting."""
    return "hello from python"


@mcp.prompt()
def review(code: str) -> str:
    """Ask for a code review."""
    return f"Please review:\n{code}"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        mcp.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--sse":
        mcp.run("sse", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        mcp.run()
