//! Checks of `servers:`: names usable in namespaced names, distinct prefixes, a transport the
//! entry's keys fit, timeouts above zero, a pool and concurrency limit that can run a call.

use indexmap::IndexMap;

use crate::{Isolation, PoolConfig, Problem, ProtocolMode, ServerConfig, TransportKind};

/// `servers.NAME.KEY`.
fn at(name: &str, key: &str) -> String {
    format!("servers.{name}.{key}")
}

/// Every server entry, in order, and the prefixes they share.
pub(super) fn check_servers(
    servers: &IndexMap<String, ServerConfig>,
    separator: &str,
) -> Vec<Problem> {
    let mut p = Vec::new();
    let mut prefixes: Vec<(&str, &str)> = Vec::new();
    for (name, s) in servers {
        p.extend(check_tool_timeouts(name, s));
        p.extend(check_name(name, separator));
        let prefix = s.prefix.as_deref().unwrap_or(name);
        if let Some((other, _)) = prefixes.iter().find(|(_, pf)| *pf == prefix) {
            p.push(
                Problem::new(
                    at(name, "prefix"),
                    format!("prefix `{prefix}` is also used by server `{other}`"),
                )
                .fix("give one of them a different `prefix:`"),
            );
        }
        prefixes.push((name, prefix));
        p.extend(check_transport(name, s));
        p.extend(check_limits(name, s));
    }
    p
}

/// An entry the gateway serves from an HTTP API: no MCP transport keys, a base URL it can call,
/// tools it can build.
fn check_http_api(name: &str, s: &ServerConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    if s.command.is_some() || s.url.is_some() {
        p.push(
            Problem::new(
                format!("servers.{name}"),
                "has `openapi`/`http_tools` and also `command` or `url`",
            )
            .fix("an entry is either an MCP server (`command`/`url`) or an HTTP API (`openapi`/`http_tools` with `base_url`); split it in two"),
        );
    }
    if !s.args.is_empty() || !s.env.is_empty() || s.cwd.is_some() || s.pool.is_some() {
        p.push(
            Problem::new(
                format!("servers.{name}"),
                "`args`, `env`, `cwd` and `pool` only apply to stdio servers",
            )
            .fix("remove them"),
        );
    }
    if s.isolation == Isolation::Session {
        p.push(
            Problem::new(
                at(name, "isolation"),
                "`session` isolation applies to stdio servers (`command`)",
            )
            .fix("remove it: an HTTP API keeps no per-session process"),
        );
    }
    if s.transport.is_some_and(|t| t != TransportKind::HttpApi) {
        p.push(
            Problem::new(at(name, "type"), "does not fit an HTTP API entry")
                .fix("remove `type` (it is inferred) or write `type: http-api`"),
        );
    }
    if !s.is_http_api() {
        p.push(
            Problem::new(
                format!("servers.{name}"),
                "`type: http-api` needs `openapi` or `http_tools`",
            )
            .fix("add `openapi: spec.yaml` or declare `http_tools:`"),
        );
    }
    match &s.base_url {
        Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => p.push(
            Problem::new(at(name, "base_url"), format!("`{u}` is not an http(s) URL"))
                .fix("write e.g. `http://127.0.0.1:9000` or `https://api.example.com/v1`"),
        ),
        None if !s.http_tools.is_empty() && s.openapi.is_none() => p.push(
            Problem::new(
                at(name, "base_url"),
                "is missing: `http_tools` are calls to it",
            )
            .fix("add `base_url: https://api.example.com`"),
        ),
        _ => {}
    }
    if let Some(f) = &s.forward_identity {
        p.extend(check_forward_identity(name, f));
    }
    if s.max_response_bytes == Some(0) {
        p.push(
            Problem::new(
                at(name, "max_response_bytes"),
                "is 0, so every answer would be cut",
            )
            .fix("give it room, e.g. `100000`"),
        );
    }
    for (tool, t) in &s.http_tools {
        let key = |k: &str| at(name, &format!("http_tools.{tool}.{k}"));
        if tool.is_empty()
            || tool.len() > 128
            || !tool
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            p.push(
                Problem::new(
                    at(name, &format!("http_tools.{tool}")),
                    "tool names may use letters, digits, `_`, `-` and `.` (at most 128)",
                )
                .fix("rename the tool"),
            );
        }
        if !matches!(
            t.method.to_ascii_uppercase().as_str(),
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD"
        ) {
            p.push(
                Problem::new(
                    key("method"),
                    format!("`{}` is not a method HTTP tools use", t.method),
                )
                .fix("use GET, POST, PUT, PATCH, DELETE or HEAD"),
            );
        }
        if !t.path.starts_with('/') {
            p.push(
                Problem::new(key("path"), format!("`{}` does not start with `/`", t.path))
                    .fix("write the path under base_url, e.g. `/employees/{employee_id}`"),
            );
        }
        if t.path.contains('?') || t.path.contains('#') {
            p.push(
                Problem::new(key("path"), "holds a query or fragment")
                    .fix("keep the path only; arguments not in the path go to the query"),
            );
        }
        if t.path.matches('{').count() != t.path.matches('}').count() {
            p.push(
                Problem::new(key("path"), "has an unclosed `{` placeholder")
                    .fix("write placeholders as `{argument}`"),
            );
        }
        if let Some(schema) = &t.input_schema
            && schema.get("type").and_then(|v| v.as_str()) != Some("object")
        {
            p.push(
                Problem::new(
                    key("input_schema"),
                    "is not an object schema (`type: object`)",
                )
                .fix("tool arguments are an object: `{type: object, properties: {…}}`"),
            );
        }
    }
    p
}

/// `forward_identity`: something to send, a way to sign it, header names that are names.
fn check_forward_identity(name: &str, f: &crate::ForwardIdentity) -> Vec<Problem> {
    let mut p = Vec::new();
    let key = |k: &str| at(name, &format!("forward_identity.{k}"));
    if f.jwt.is_none() && f.header.is_none() && f.role_header.is_none() {
        p.push(
            Problem::new(at(name, "forward_identity"), "says nothing to send")
                .fix("add `jwt: {issuer, audience, secret}` or `header: X-Switchboard-User`"),
        );
    }
    let is_header = |h: &str| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    for (k, h) in [("header", &f.header), ("role_header", &f.role_header)] {
        if let Some(h) = h
            && !is_header(h)
        {
            p.push(
                Problem::new(key(k), format!("`{h}` is not a header name"))
                    .fix("e.g. `X-Switchboard-User`"),
            );
        }
    }
    if let Some(j) = &f.jwt {
        let alg = j.algorithm.to_ascii_uppercase();
        let hmac = alg.starts_with("HS");
        let known = matches!(
            alg.as_str(),
            "HS256"
                | "HS384"
                | "HS512"
                | "RS256"
                | "RS384"
                | "RS512"
                | "PS256"
                | "PS384"
                | "PS512"
                | "ES256"
                | "ES384"
                | "EDDSA"
        );
        if !known {
            p.push(
                Problem::new(key("jwt.algorithm"), format!("`{}` is not an algorithm the gateway signs with", j.algorithm))
                    .fix("use HS256 (with `secret`), RS256, PS256, ES256 or EdDSA (with `private_key_file`)"),
            );
        }
        match (hmac, &j.secret, &j.private_key_file) {
            (true, Some(s), _) if s.len() < 32 => p.push(
                Problem::new(key("jwt.secret"), "is shorter than 32 bytes").fix(
                    "use a long random secret, e.g. `openssl rand -base64 48`, through `${ENV}`",
                ),
            ),
            (true, None, _) => p.push(
                Problem::new(
                    key("jwt.secret"),
                    format!("is missing: {} signs with a secret", j.algorithm),
                )
                .fix("add `secret: ${API_JWT_SECRET}`"),
            ),
            (false, _, None) if known => p.push(
                Problem::new(
                    key("jwt.private_key_file"),
                    format!("is missing: {} signs with a private key", j.algorithm),
                )
                .fix("add `private_key_file: keys/gateway.pem`"),
            ),
            _ => {}
        }
        if j.ttl.0.is_zero() {
            p.push(
                Problem::new(key("jwt.ttl"), "is 0: every token would be expired")
                    .fix("e.g. `60s`"),
            );
        }
        if !is_header(&j.header) {
            p.push(
                Problem::new(
                    key("jwt.header"),
                    format!("`{}` is not a header name", j.header),
                )
                .fix("e.g. `Authorization`"),
            );
        }
    }
    p
}

/// `tool_timeouts`: none is zero.
fn check_tool_timeouts(name: &str, s: &ServerConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    for (tool, t) in &s.tool_timeouts {
        if t.0.is_zero() {
            p.push(
                Problem::new(
                    at(name, &format!("tool_timeouts.{tool}")),
                    "is 0, so every call would time out at once",
                )
                .fix("give the tool the time it needs, e.g. `30s`"),
            );
        }
    }
    p
}

/// The server's name: letters, digits, `_` and `-`, and not the federation separator.
fn check_name(name: &str, separator: &str) -> Vec<Problem> {
    let mut p = Vec::new();
    if !super::is_plain_name(name) {
        p.push(
            Problem::new(
                format!("servers.{name}"),
                "server names may use letters, digits, `_` and `-` only",
            )
            .fix("rename the server"),
        );
    }
    if !separator.is_empty() && name.contains(separator) {
        p.push(
            Problem::new(format!("servers.{name}"), format!("the name contains the separator `{separator}`, which makes namespaced names ambiguous"))
                .fix("rename the server or set `prefix:`"),
        );
    }
    p
}

/// `command` or `url` (not both), and the keys that go with it: `type`, `protocol`,
/// `headers`, `args`/`env`/`cwd`, `isolation`.
fn check_transport(name: &str, s: &ServerConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    if s.protocol == ProtocolMode::Modern && s.transport == Some(TransportKind::Sse) {
        p.push(
            Problem::new(
                at(name, "protocol"),
                "the legacy HTTP+SSE transport cannot carry protocol 2026-07-28",
            )
            .fix("use `protocol: legacy` (or `auto`), or `type: http`"),
        );
    }
    if s.is_http_api() || s.transport == Some(TransportKind::HttpApi) {
        p.extend(check_http_api(name, s));
        return p;
    }
    if s.base_url.is_some()
        || s.forward_identity.is_some()
        || s.operations.is_some()
        || !s.responses.is_empty()
        || s.max_response_bytes.is_some()
    {
        p.push(
            Problem::new(
                format!("servers.{name}"),
                "`base_url`, `forward_identity`, `operations`, `responses` and `max_response_bytes` apply to HTTP API entries only",
            )
            .fix("add `openapi:` or `http_tools:` (the gateway serves the API's tools), or remove them"),
        );
    }
    match (&s.command, &s.url) {
        (Some(_), Some(_)) => p.push(
            Problem::new(format!("servers.{name}"), "has both `command` and `url`")
                .fix("keep `command` for a stdio server or `url` for an HTTP server"),
        ),
        (None, None) => p.push(
            Problem::new(format!("servers.{name}"), "has neither `command` nor `url`")
                .fix("add `command: …` (stdio server) or `url: http://…` (HTTP server)"),
        ),
        (Some(cmd), None) => {
            if cmd.trim().is_empty() {
                p.push(
                    Problem::new(at(name, "command"), "is empty").fix("name the program to run"),
                );
            }
            if matches!(s.transport, Some(TransportKind::Http | TransportKind::Sse)) {
                p.push(
                    Problem::new(
                        at(name, "type"),
                        "an HTTP transport needs `url`, not `command`",
                    )
                    .fix("remove `type` or use `type: stdio`"),
                );
            }
            if !s.headers.is_empty() {
                p.push(
                    Problem::new(at(name, "headers"), "only apply to HTTP servers")
                        .fix("pass credentials to a stdio server with `env`"),
                );
            }
        }
        (None, Some(url)) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                p.push(
                    Problem::new(at(name, "url"), format!("`{url}` is not an http(s) URL"))
                        .fix("write e.g. `http://127.0.0.1:3001/mcp`"),
                );
            }
            if s.transport == Some(TransportKind::Stdio) {
                p.push(
                    Problem::new(at(name, "type"), "`stdio` needs `command`, not `url`")
                        .fix("remove `type` or use `type: http`"),
                );
            }
            if !s.args.is_empty() || !s.env.is_empty() || s.cwd.is_some() {
                p.push(
                    Problem::new(
                        format!("servers.{name}"),
                        "`args`, `env` and `cwd` only apply to stdio servers",
                    )
                    .fix("remove them"),
                );
            }
        }
    }
    if s.isolation == Isolation::Session && s.command.is_none() {
        p.push(
            Problem::new(
                at(name, "isolation"),
                "`session` isolation applies to stdio servers (`command`)",
            )
            .fix("remove `isolation` for HTTP servers"),
        );
    }
    p
}

/// How calls run: `timeout`, `pool`, `max_concurrency` with `queue_timeout`, `restart`.
fn check_limits(name: &str, s: &ServerConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    if s.timeout.0.is_zero() {
        p.push(Problem::new(at(name, "timeout"), "must be above zero").fix("e.g. `60s`"));
    }
    if let Some(pool) = &s.pool {
        p.extend(check_pool(name, pool, s));
    }
    if s.max_concurrency == Some(0) {
        p.push(
            Problem::new(
                at(name, "max_concurrency"),
                "is 0, so no call could ever be made",
            )
            .fix("use at least 1, or remove it for no limit"),
        );
    }
    if s.queue_timeout.is_some() && s.max_concurrency.is_none() {
        p.push(
            Problem::new(
                at(name, "queue_timeout"),
                "has no effect without `max_concurrency`",
            )
            .fix("set `max_concurrency`, or remove `queue_timeout`"),
        );
    }
    if s.restart.initial_backoff.0 > s.restart.max_backoff.0 {
        p.push(
            Problem::new(
                at(name, "restart.initial_backoff"),
                "is longer than `max_backoff`",
            )
            .fix("make `initial_backoff` ≤ `max_backoff`"),
        );
    }
    p
}

/// A pool's own checks, and the server settings it cannot go with.
fn check_pool(name: &str, pool: &PoolConfig, s: &ServerConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    if s.kind() != TransportKind::Stdio {
        p.push(
            Problem::new(
                at(name, "pool"),
                "process pools apply to stdio servers (`command`) only",
            )
            .fix("remove `pool`; to bound calls to an HTTP server use `max_concurrency`"),
        );
    }
    if s.isolation == Isolation::Session {
        p.push(
            Problem::new(
                at(name, "pool"),
                "cannot go with `isolation: session` (each session already has its own process)",
            )
            .fix("remove `pool` or `isolation`"),
        );
    }
    if pool.max == 0 {
        p.push(
            Problem::new(at(name, "pool.max"), "is 0, so no process could run")
                .fix("use at least 1, e.g. `max: 10`"),
        );
    }
    if let Some(min) = pool.min
        && min > pool.max
    {
        p.push(
            Problem::new(
                at(name, "pool.min"),
                format!("is {min}, more than `max` ({})", pool.max),
            )
            .fix("make `min` ≤ `max`"),
        );
    }
    if pool.idle_timeout.0.is_zero() {
        p.push(
            Problem::new(
                at(name, "pool.idle_timeout"),
                "is 0, so extra processes would stop between calls",
            )
            .fix("e.g. `30s`"),
        );
    }
    p
}

#[cfg(test)]
mod pool_tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::{Config, from_str};

    fn parse(yaml: &str) -> Result<Config, Vec<String>> {
        from_str(yaml, Path::new("test.yaml"), &|_| None)
            .map_err(|e| e.problems().iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn pools_and_concurrency_limits_default_to_todays_behaviour() {
        let c = parse("servers:\n  a: {command: x}\n").unwrap();
        let a = &c.servers["a"];
        assert!(a.pool.is_none() && a.max_concurrency.is_none());
        assert_eq!(a.queue_wait().0, Duration::from_secs(60));
        let d = crate::ServerConfig::stdio("x", Vec::new());
        assert!(d.pool.is_none() && d.max_concurrency.is_none() && d.queue_timeout.is_none());

        let c = parse(
            "servers:\n  a: {command: x, pool: {max: 4, acquire_timeout: 5s}, max_concurrency: 3}\n  b: {command: x, pool: {max: 1}}\n  c: {url: 'http://h/mcp', max_concurrency: 2, queue_timeout: 250ms}\n",
        )
        .unwrap();
        let a = &c.servers["a"];
        let pool = a.pool.as_ref().unwrap();
        assert_eq!((pool.min_processes(), pool.max), (2, 4));
        assert_eq!(pool.idle_timeout.0, Duration::from_secs(30));
        // A pooled server queues for as long as it waits for a process.
        assert_eq!(a.queue_wait().0, Duration::from_secs(5));
        assert_eq!(c.servers["b"].pool.as_ref().unwrap().min_processes(), 1);
        assert_eq!(c.servers["c"].queue_wait().0, Duration::from_millis(250));
    }

    #[test]
    fn pool_problems_name_the_field_and_the_fix() {
        let p = parse(
            "servers:\n  a: {command: x, pool: {min: 5, max: 2}}\n  b: {command: x, pool: {max: 0}, isolation: session}\n  c: {url: 'http://h/mcp', pool: {}}\n  d: {command: x, max_concurrency: 0}\n  e: {command: x, queue_timeout: 1s}\n",
        )
        .unwrap_err();
        let has = |path: &str, text: &str| {
            assert!(
                p.iter()
                    .any(|l| l.starts_with(path) && l.contains(text) && l.contains("fix:")),
                "no `{path}` problem with `{text}` in {p:#?}"
            )
        };
        has("servers.a.pool.min", "more than `max`");
        has("servers.b.pool.max", "is 0");
        has("servers.b.pool:", "isolation: session");
        has("servers.c.pool:", "stdio servers");
        has("servers.d.max_concurrency", "is 0");
        has("servers.e.queue_timeout", "without `max_concurrency`");
        assert_eq!(p.len(), 6, "{p:#?}");
        let p = parse("servers:\n  a: {command: x, pool: {maxx: 3}}\n").unwrap_err();
        assert!(
            p[0].contains("servers.a.pool.maxx") && p[0].contains("`max`"),
            "{p:?}"
        );
    }
}
