#!/usr/bin/env python3
"""A small OAuth 2.1 authorization server for the gateway's tests (loopback only).

usage: oauth_as.py PORT [--resource URL]

It signs RS256 JWT access tokens (JWKS at /jwks.json) or issues opaque tokens it knows for
introspection (RFC 7662, HTTP Basic `gateway:gateway-secret`). Grants:
- authorization_code with PKCE (S256), after dynamic client registration (RFC 7591); /authorize
  approves at once and redirects with `code`, `state` and `iss` (RFC 9207);
- client_credentials (any client id, secret "s3cret"), where the test chooses the token's
  `role`, `scope`, `resource` (audience), lifetime (`expires_in`, may be negative) and
  `token_format=opaque`.
Prints "listening on http://127.0.0.1:PORT" when ready.
"""
import base64
import hashlib
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

PORT = int(sys.argv[1])
ISSUER = f"http://127.0.0.1:{PORT}"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "as-1"
LOCK = threading.Lock()
CLIENTS = {}
CODES = {}
OPAQUE = {}


def b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwks():
    pub = KEY.public_key().public_numbers()
    return {"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256", "n": b64(pub.n), "e": b64(pub.e)}]}


def metadata():
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "registration_endpoint": f"{ISSUER}/register",
        "introspection_endpoint": f"{ISSUER}/introspect",
        "jwks_uri": f"{ISSUER}/jwks.json",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
        "scopes_supported": ["mcp", "admin"],
        "authorization_response_iss_parameter_supported": True,
    }


def issue(sub, scope, role, resource, lifetime, opaque):
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": sub, "aud": resource, "scope": scope, "role": role, "iat": now, "exp": now + lifetime}
    if opaque:
        token = secrets.token_urlsafe(32)
        with LOCK:
            OPAQUE[token] = claims
        return token
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": KID})


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, status, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def form(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n).decode()
        if self.headers.get("content-type", "").startswith("application/json"):
            return json.loads(raw or "{}")
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def basic(self):
        h = self.headers.get("authorization", "")
        if not h.lower().startswith("basic "):
            return None, None
        user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
        return user, pw

    def do_GET(self):
        u = urlparse(self.path)
        if u.path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            return self.send(200, metadata())
        if u.path == "/jwks.json":
            return self.send(200, jwks())
        if u.path == "/authorize":
            q = {k: v[0] for k, v in parse_qs(u.query).items()}
            client = CLIENTS.get(q.get("client_id"))
            if client is None or q.get("redirect_uri") not in client["redirect_uris"]:
                return self.send(400, {"error": "invalid_client"})
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                return self.send(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
            code = secrets.token_urlsafe(16)
            with LOCK:
                CODES[code] = q
            loc = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", ""), "iss": ISSUER})
            return self.send(302, None, {"location": loc})
        return self.send(404, {"error": "not_found"})

    def do_POST(self):
        u = urlparse(self.path)
        f = self.form()
        if u.path == "/register":
            cid = "c-" + secrets.token_hex(6)
            rec = dict(f)
            rec.update({"client_id": cid, "client_id_issued_at": int(time.time()), "token_endpoint_auth_method": "none"})
            with LOCK:
                CLIENTS[cid] = rec
            return self.send(201, rec)
        if u.path == "/token":
            grant = f.get("grant_type")
            if grant == "authorization_code":
                with LOCK:
                    q = CODES.pop(f.get("code", ""), None)
                if q is None or q.get("client_id") != f.get("client_id"):
                    return self.send(400, {"error": "invalid_grant"})
                verifier = f.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if challenge != q.get("code_challenge"):
                    return self.send(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
                scope = q.get("scope") or "mcp"
                resource = f.get("resource") or q.get("resource")
                token = issue("user-1", scope, "developer", resource, 600, False)
                return self.send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 600, "scope": scope})
            if grant == "client_credentials":
                user, pw = self.basic()
                cid = user or f.get("client_id")
                if (pw or f.get("client_secret")) != "s3cret":
                    return self.send(401, {"error": "invalid_client"})
                lifetime = int(f.get("expires_in", "600"))
                token = issue(cid, f.get("scope", "mcp"), f.get("role", "developer"), f.get("resource"), lifetime,
                              f.get("token_format") == "opaque")
                return self.send(200, {"access_token": token, "token_type": "Bearer", "expires_in": lifetime})
            return self.send(400, {"error": "unsupported_grant_type"})
        if u.path == "/introspect":
            if self.basic() != ("gateway", "gateway-secret"):
                return self.send(401, {"error": "invalid_client"})
            token = f.get("token", "")
            with LOCK:
                claims = OPAQUE.get(token)
            if claims is None:
                try:
                    claims = jwt.decode(token, KEY.public_key(), algorithms=["RS256"], options={"verify_aud": False})
                except jwt.PyJWTError:
                    claims = None
            if claims is None or claims["exp"] < time.time():
                return self.send(200, {"active": False})
            return self.send(200, dict(claims, active=True, token_type="Bearer"))
        return self.send(404, {"error": "not_found"})


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"listening on {ISSUER}", flush=True)
server.serve_forever()
