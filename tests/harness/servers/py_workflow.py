#!/usr/bin/env python3
"""A Python MCP SDK upstream for the workflow tests (stdio): tools that report when they ran,
fail on demand, keep a journal of actions and their undoing, are slow, and ask the client.

State lives in the process (one per gateway under test).
"""
import json
import os
import time

import anyio
from pydantic import BaseModel

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

mcp = MCPServer("py-workflow")

FIGURES = {
    "traffic": (12000, 10000),
    "revenue": (150000, 120000),
    "support": (340, 400),
}
calls: dict[str, list[float]] = {}
journal: list[dict] = []
# With WORKFLOW_JOURNAL set, every journal entry is also appended to that file (JSON lines), so
# it outlives the process (the durable-run tests kill the gateway and its children).
JOURNAL_FILE = os.environ.get("WORKFLOW_JOURNAL")


def record(entry: dict) -> None:
    journal.append(entry)
    if JOURNAL_FILE:
        with open(JOURNAL_FILE, "a") as f:
            f.write(json.dumps(entry) + "\n")


def now_ms() -> float:
    return time.time() * 1000.0


@mcp.tool()
async def metric(system: str, period: str, delay_ms: int = 0) -> dict:
    """Figures of one system for a period: total and previous_total, with when it ran."""
    started = now_ms()
    if delay_ms:
        await anyio.sleep(delay_ms / 1000.0)
    if system not in FIGURES:
        raise ToolError(f"no system {system!r}")
    total, previous = FIGURES[system]
    return {"system": system, "period": period, "total": total, "previous_total": previous,
            "started": started, "ended": now_ms()}


@mcp.tool()
def flaky(key: str, failures: int) -> dict:
    """Fail the first `failures` calls for `key`, then succeed."""
    seen = calls.setdefault(key, [])
    seen.append(now_ms())
    if len(seen) <= failures:
        raise ToolError(f"{key}: failure {len(seen)} of {failures}")
    return {"key": key, "calls": len(seen)}


@mcp.tool()
def call_times(key: str) -> dict:
    """When `flaky` was called for `key` (ms since the epoch)."""
    return {"key": key, "times": calls.get(key, [])}


@mcp.tool()
def fail(message: str) -> str:
    """Always fail with `message`."""
    raise ToolError(message)


@mcp.tool()
def act(action: str, id: str) -> dict:
    """Do `action` under `id` (journaled)."""
    record({"op": "do", "action": action, "id": id, "at": now_ms()})
    return {"id": id, "action": action}


@mcp.tool()
def undo(id: str) -> dict:
    """Undo what was done under `id` (journaled)."""
    record({"op": "undo", "id": id, "at": now_ms()})
    return {"undone": id}


@mcp.tool()
def read_journal() -> dict:
    """Everything done and undone, in order."""
    return {"entries": journal}


@mcp.tool()
async def slow(key: str, ms: int) -> dict:
    """Sleep `ms` (journaled: start, then end or cancelled)."""
    record({"op": "start", "id": key, "at": now_ms()})
    try:
        await anyio.sleep(ms / 1000.0)
    except anyio.get_cancelled_exc_class():
        record({"op": "cancelled", "id": key, "at": now_ms()})
        raise
    record({"op": "end", "id": key, "at": now_ms()})
    return {"key": key, "slept": ms}


class Approver(BaseModel):
    name: str


@mcp.tool()
async def approve(what: str, ctx: Context) -> dict:
    """Ask the user who approves `what` (elicitation)."""
    r = await ctx.elicit(f"Who approves {what}?", Approver)
    return {"what": what, "action": r.action, "approved_by": r.data.name if r.data else None}


if __name__ == "__main__":
    mcp.run()
