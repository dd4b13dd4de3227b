#!/usr/bin/env python3
"""Connect to an OAuth-protected MCP endpoint the way a user's client does: the Python SDK's
OAuthClientProvider discovers the authorization server through RFC 9728 protected-resource
metadata (from the 401 challenge), registers itself, runs authorization code + PKCE (the
"browser" step follows the authorization redirect itself), and retries with the token. Prints
one JSON object: the negotiated version, the tool names, and the result of one call.

usage: py_oauth_client.py URL TOOL JSON_ARGS [--mode legacy|auto]
"""
import asyncio
import json
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


class Memory(TokenStorage):
    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, info: OAuthClientInformationFull):
        self.client = info


async def main():
    url, tool, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    mode = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--mode" else "auto"
    redirect = {}

    async def redirect_handler(authorization_url: str):
        # The user's browser: follow the authorization endpoint's redirect and catch the code.
        async with httpx2.AsyncClient() as h:
            r = await h.get(authorization_url)
        assert r.status_code == 302, f"authorize answered {r.status_code}: {r.text}"
        redirect.update({k: v[0] for k, v in parse_qs(urlparse(r.headers["location"]).query).items()})

    async def callback_handler():
        return AuthorizationCodeResult(code=redirect["code"], state=redirect.get("state"), iss=redirect.get("iss"))

    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="switchboard-test",
            redirect_uris=["http://127.0.0.1:1/callback"],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope="mcp",
        ),
        storage=Memory(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    transport = streamable_http_client(url, http_client=create_mcp_http_client(auth=provider))
    out = {}
    async with Client(transport, mode=mode) as c:
        out["protocol_version"] = c.protocol_version
        out["tools"] = [t.name for t in (await c.list_tools()).tools]
        r = await c.call_tool(tool, args)
        out["isError"] = bool(r.is_error)
        out["text"] = "\n".join(x.text for x in r.content if getattr(x, "type", "") == "text")
    out["authorized"] = redirect.get("code") is not None
    print(json.dumps(out))


asyncio.run(main())
