#!/usr/bin/env python3
"""A Python MCP SDK (MCPServer) upstream whose 2026-07-28 list results carry cache hints.

    py_hints.py TTL_MS SCOPE      stdio; tools/list, prompts/list, resources/list and
                                  resources/templates/list answer with `ttlMs: TTL_MS` and
                                  `cacheScope: SCOPE` (`public` or `private`)

One tool (`hello`), one prompt (`greet`), one resource (`hints://static`) and one template
(`hints://item/{id}`), so every list has an item.
"""
import sys

from mcp.server.caching import CacheHint
from mcp.server.mcpserver import MCPServer

ttl_ms, scope = int(sys.argv[1]), sys.argv[2]
hint = CacheHint(ttl_ms=ttl_ms, scope=scope)
lists = ("tools/list", "prompts/list", "resources/list", "resources/templates/list")
mcp = MCPServer("py-hints", cache_hints={m: hint for m in lists})


@mcp.tool()
def hello(who: str) -> str:
    """Say hello."""
    return f"hello {who}"


@mcp.prompt()
def greet(who: str) -> str:
    """A greeting prompt."""
    return f"Greet {who}"


@mcp.resource("hints://static")
def static() -> str:
    """A static resource."""
    return "static"


@mcp.resource("hints://item/{id}")
def item(id: str) -> str:
    """One item."""
    return f"item {id}"


if __name__ == "__main__":
    mcp.run()
