//! Loading: YAML → interpolation → schema → types → semantic checks, collecting every problem.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;

use crate::interpolate::interpolate;
use crate::{CacheStore, Config, ConfigError, PrefixMode, Problem, ProtocolMode, TransportKind};

/// Load and validate the configuration file at `path`, reading `${ENV}` from the process.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_owned(),
        source,
    })?;
    from_str(&text, path, &|k| std::env::var(k).ok())
}

/// The JSON Schema of the configuration file.
pub fn schema_json() -> Value {
    let mut schema = schemars::schema_for!(Config).to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "title".into(),
            Value::String("Switchboard configuration".into()),
        );
    }
    schema
}

/// Parse and validate configuration text. `file` is only used in messages.
pub fn from_str(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let invalid = |problems| ConfigError::Invalid {
        file: file.to_owned(),
        problems,
    };
    let mut doc: Value = match yaml_serde::from_str::<Option<Value>>(text) {
        Ok(v) => v.unwrap_or_else(|| Value::Object(Default::default())),
        Err(e) => {
            return Err(invalid(vec![
                Problem::new("", format!("not valid YAML: {e}"))
                    .fix("check indentation and quoting at the position shown"),
            ]));
        }
    };
    let mut problems = Vec::new();
    normalize_aliases(&mut doc, &mut problems);
    interpolate(&mut doc, &mut Vec::new(), env, &mut problems);
    problems.extend(schema_problems(&doc));
    if !problems.is_empty() {
        return Err(invalid(problems));
    }
    let config: Config =
        serde_json::from_value(doc).map_err(|e| invalid(vec![Problem::new("", e.to_string())]))?;
    let problems = config.validate();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(invalid(problems))
    }
}

/// Accept the Claude spellings the schema does not list: `mcpServers` for `servers`,
/// `transport` for `type`.
fn normalize_aliases(doc: &mut Value, problems: &mut Vec<Problem>) {
    let Some(top) = doc.as_object_mut() else {
        return;
    };
    if let Some(servers) = top.remove("mcpServers") {
        if top.contains_key("servers") {
            problems.push(
                Problem::new("mcpServers", "given together with `servers`")
                    .fix("merge the entries under one of the two keys"),
            );
        } else {
            top.insert("servers".into(), servers);
        }
    }
    if let Some(servers) = top.get_mut("servers").and_then(Value::as_object_mut) {
        for entry in servers.values_mut().filter_map(Value::as_object_mut) {
            if !entry.contains_key("type")
                && let Some(t) = entry.remove("transport")
            {
                entry.insert("type".into(), t);
            }
        }
    }
}

fn schema_problems(doc: &Value) -> Vec<Problem> {
    let schema = schema_json();
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
        Err(e) => return vec![Problem::new("", format!("internal schema error: {e}"))],
    };
    let mut out = Vec::new();
    for err in validator.iter_errors(doc) {
        let pointer = err.instance_path().as_str().to_owned();
        let segments: Vec<String> = pointer
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        let path = segments.join(".");
        match err.kind() {
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = known_keys(&schema, &segments);
                for key in unexpected {
                    let full = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    let mut p = Problem::new(full, "unknown key");
                    p = match closest(key, &known) {
                        Some(k) => p.fix(format!("did you mean `{k}`?")),
                        None if !known.is_empty() => {
                            p.fix(format!("remove it; allowed here: {}", known.join(", ")))
                        }
                        None => p.fix("remove it"),
                    };
                    out.push(p);
                }
            }
            _ => out.push(
                Problem::new(path, err.to_string())
                    .fix("see `switchboard schema` or docs/config.md for the allowed values"),
            ),
        }
    }
    out
}

/// The property names the schema allows at `segments` (following `$ref`s and maps).
fn known_keys(schema: &Value, segments: &[String]) -> Vec<String> {
    let defs = schema.get("$defs");
    let resolve = |start: &Value| -> Value {
        let mut node = start;
        for _ in 0..8 {
            if let Some(r) = node.get("$ref").and_then(Value::as_str) {
                match r.rsplit('/').next().and_then(|n| defs?.get(n)) {
                    Some(next) => node = next,
                    None => break,
                }
            } else if let Some(first) = node
                .get("anyOf")
                .or_else(|| node.get("allOf"))
                .and_then(Value::as_array)
                .and_then(|a| {
                    a.iter()
                        .find(|s| s.get("$ref").is_some() || s.get("properties").is_some())
                })
            {
                node = first;
            } else {
                break;
            }
        }
        node.clone()
    };
    let mut node = resolve(schema);
    for seg in segments {
        let next = node
            .get("properties")
            .and_then(|p| p.get(seg))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
        match next {
            Some(n) => node = resolve(n),
            None => return Vec::new(),
        }
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn closest<'a>(key: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| {
            (
                strsim::damerau_levenshtein(&key.to_lowercase(), &k.to_lowercase()),
                k,
            )
        })
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

impl Config {
    /// The roles in force: the configured ones, or the defaults when `auth` is on.
    pub fn effective_roles(&self) -> indexmap::IndexMap<String, crate::RoleConfig> {
        if self.roles.is_empty() && self.auth.is_some() {
            crate::default_roles()
        } else {
            self.roles.clone()
        }
    }

    fn validate_auth(&self, p: &mut Vec<Problem>) {
        let roles = self.effective_roles();
        let known = |r: &str| roles.contains_key(r);
        let names = || roles.keys().cloned().collect::<Vec<_>>().join(", ");
        for (name, role) in &roles {
            for (tool, rate) in &role.tool_limits {
                if let Err(e) = crate::parse_rate(rate) {
                    p.push(
                        Problem::new(format!("roles.{name}.tool_limits.{tool}"), e)
                            .fix("write e.g. `10/min`"),
                    );
                }
            }
            if let Some(rate) = &role.rate_limit
                && let Err(e) = crate::parse_rate(rate)
            {
                p.push(
                    Problem::new(format!("roles.{name}.rate_limit"), e).fix("write e.g. `100/min`"),
                );
            }
        }
        let Some(auth) = &self.auth else {
            if !self.roles.is_empty() {
                p.push(
                    Problem::new(
                        "roles",
                        "roles are defined but `auth` is not, so nobody is given one",
                    )
                    .fix("add an `auth:` section (api_keys, jwt, anonymous_role)"),
                );
            }
            return;
        };
        for (key, role) in [
            ("auth.anonymous_role", &auth.anonymous_role),
            ("auth.stdio.role", &auth.stdio.role),
        ] {
            if let Some(r) = role
                && !known(r)
            {
                p.push(
                    Problem::new(key, format!("role `{r}` is not defined"))
                        .fix(format!("use one of: {}", names())),
                );
            }
        }
        for (i, j) in auth.jwt.iter().enumerate() {
            let at = |k: &str| format!("auth.jwt[{i}].{k}");
            let sources = [
                j.secret.is_some(),
                j.public_key.is_some(),
                j.public_key_file.is_some(),
                j.jwks_url.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if sources != 1 {
                p.push(
                    Problem::new(format!("auth.jwt[{i}]"), "needs exactly one key source")
                        .fix("set one of `secret`, `public_key`, `public_key_file`, `jwks_url`"),
                );
            }
            let alg = j.algorithm.to_ascii_uppercase();
            let hmac = alg.starts_with("HS");
            const ALGS: &[&str] = &[
                "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                "ES256", "ES384", "EDDSA",
            ];
            if !ALGS.contains(&alg.as_str()) {
                p.push(
                    Problem::new(
                        at("algorithm"),
                        format!("`{}` is not accepted", j.algorithm),
                    )
                    .fix("use HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 or EdDSA"),
                );
            } else if hmac != j.secret.is_some() && sources == 1 {
                p.push(
                    Problem::new(
                        at("algorithm"),
                        format!("`{}` does not fit the key source", j.algorithm),
                    )
                    .fix("HS* algorithms take `secret`; the others a public key or `jwks_url`"),
                );
            }
            if let Some(s) = &j.secret
                && s.len() < 32
            {
                p.push(
                    Problem::new(at("secret"), "is shorter than 32 bytes")
                        .fix("use a long random secret from ${ENV}"),
                );
            }
            if j.audience.is_empty() {
                p.push(
                    Problem::new(
                        at("audience"),
                        "is empty: tokens meant for other services would be accepted",
                    )
                    .fix("name this gateway's audience, e.g. its URL"),
                );
            }
            if let Some(r) = &j.default_role
                && !known(r)
            {
                p.push(
                    Problem::new(at("default_role"), format!("role `{r}` is not defined"))
                        .fix(format!("use one of: {}", names())),
                );
            }
        }
        if let Some(o) = &auth.oauth {
            if !(o.resource.starts_with("http://") || o.resource.starts_with("https://")) {
                p.push(
                    Problem::new(
                        "auth.oauth.resource",
                        format!("`{}` is not an http(s) URL", o.resource),
                    )
                    .fix("write this endpoint's public URL, e.g. https://mcp.example.com/mcp"),
                );
            }
            if o.authorization_servers.is_empty() {
                p.push(
                    Problem::new(
                        "auth.oauth.authorization_servers",
                        "is empty: clients cannot learn where to get a token",
                    )
                    .fix("list your authorization server's issuer URL"),
                );
            }
            if o.introspection.is_none() && auth.jwt.is_empty() {
                p.push(
                    Problem::new(
                        "auth.oauth",
                        "no way to check tokens: neither `introspection` nor a `jwt` issuer",
                    )
                    .fix("add `introspection` or a `jwt` entry for the authorization server"),
                );
            }
            if let Some(r) = &o.default_role
                && !known(r)
            {
                p.push(
                    Problem::new(
                        "auth.oauth.default_role",
                        format!("role `{r}` is not defined"),
                    )
                    .fix(format!("use one of: {}", names())),
                );
            }
        }
        if auth.api_keys.is_none()
            && auth.jwt.is_empty()
            && auth.anonymous_role.is_none()
            && auth.oauth.is_none()
        {
            p.push(
                Problem::new("auth", "accepts no credential and has no anonymous role, so every request would be refused")
                    .fix("add `api_keys`, `jwt` or `anonymous_role`"),
            );
        }
    }

    /// `admin`, `telemetry`, `reload`.
    fn validate_ops(&self, p: &mut Vec<Problem>) {
        let admin = &self.admin;
        if !admin.listen.is_empty() && admin.listen.parse::<SocketAddr>().is_err() {
            p.push(
                Problem::new("admin.listen", format!("`{}` is not an address", admin.listen))
                    .fix("write host:port, e.g. `127.0.0.1:9090`, or leave it empty for no admin listener"),
            );
        }
        if !admin.listen.is_empty()
            && admin.listen == self.http.listen
            && !admin.listen.ends_with(":0")
        {
            p.push(
                Problem::new("admin.listen", "is the same address as `http.listen`")
                    .fix("give the admin listener its own port, e.g. `127.0.0.1:9090`"),
            );
        }
        for (i, name) in admin.readiness.required_upstreams.iter().enumerate() {
            if name != "*" && !self.servers.contains_key(name) {
                p.push(
                    Problem::new(
                        format!("admin.readiness.required_upstreams[{i}]"),
                        format!("names `{name}`, which is not in `servers`"),
                    )
                    .fix("use a server name from `servers`, or `*` for every enabled server"),
                );
            }
        }
        if let Some(m) = &admin.readiness.max_memory
            && let Err(e) = crate::parse_size(m)
        {
            p.push(Problem::new("admin.readiness.max_memory", e).fix("e.g. `1GiB`"));
        }
        if let Err(e) = crate::parse_size(&admin.readiness.min_free_disk) {
            p.push(Problem::new("admin.readiness.min_free_disk", e).fix("e.g. `50MiB`"));
        }
        let t = &self.telemetry;
        if !(0.0..=1.0).contains(&t.sample_ratio) {
            p.push(
                Problem::new("telemetry.sample_ratio", format!("is {}", t.sample_ratio))
                    .fix("use a fraction from 0.0 (none) to 1.0 (every trace)"),
            );
        }
        let e = &t.otlp_endpoint;
        if !(e.is_empty() || e.starts_with("http://") || e.starts_with("https://")) {
            p.push(
                Problem::new(
                    "telemetry.otlp_endpoint",
                    format!("`{}` is not an http(s) URL", t.otlp_endpoint),
                )
                .fix("e.g. `http://127.0.0.1:4318` (OTLP over HTTP)"),
            );
        }
    }

    /// Semantic checks the schema cannot express. Returns every problem found.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.http.listen.parse::<SocketAddr>().is_err() {
            p.push(
                Problem::new(
                    "http.listen",
                    format!("`{}` is not an address", self.http.listen),
                )
                .fix("write host:port, e.g. `127.0.0.1:8080` or `0.0.0.0:8080`"),
            );
        }
        if !self.http.path.starts_with('/') {
            p.push(Problem::new("http.path", "must start with `/`").fix("e.g. `/mcp`"));
        }
        if self.http.max_body_bytes < 1024 {
            p.push(
                Problem::new(
                    "http.max_body_bytes",
                    "is below 1024 bytes; no MCP request fits",
                )
                .fix("use at least 65536"),
            );
        }
        if self.federation.separator.is_empty() && self.federation.prefix == PrefixMode::Server {
            p.push(
                Problem::new(
                    "federation.separator",
                    "is empty, so prefixes run into names",
                )
                .fix("use `__` (the default) or another separator"),
            );
        }
        self.validate_auth(&mut p);
        self.validate_ops(&mut p);
        if self.cache.enabled && self.cache.max_entries == 0 {
            p.push(
                Problem::new("cache.max_entries", "is 0, so nothing could be kept")
                    .fix("set `cache.enabled: false` to turn the cache off, or keep e.g. 1000"),
            );
        }
        if self.cache.store == CacheStore::Redis && !self.cache.redis_url.starts_with("redis") {
            p.push(
                Problem::new(
                    "cache.redis_url",
                    format!(
                        "`{}` is not a redis:// or rediss:// URL",
                        self.cache.redis_url
                    ),
                )
                .fix("e.g. `redis://127.0.0.1:6379`"),
            );
        }
        for (pattern, rule) in &self.cache.tools {
            if pattern.trim().is_empty() {
                p.push(
                    Problem::new("cache.tools", "has an empty pattern").fix("e.g. `weather__*`"),
                );
            }
            if rule.ttl.is_some_and(|t| t.0.is_zero()) {
                p.push(
                    Problem::new(format!("cache.tools.{pattern}.ttl"), "is 0")
                        .fix("write `cache: false` to keep a tool out of the cache"),
                );
            }
        }
        for (i, key) in self.mrtr.keys.iter().enumerate() {
            if key.len() < 32 {
                p.push(
                    Problem::new(
                        format!("mrtr.keys[{i}]"),
                        format!("is {} bytes; an HMAC key needs at least 32", key.len()),
                    )
                    .fix("generate one with `openssl rand -base64 48` and pass it as ${ENV}"),
                );
            }
        }
        let mut prefixes: Vec<(&str, &str)> = Vec::new();
        for (name, s) in &self.servers {
            let at = |k: &str| format!("servers.{name}.{k}");
            for (tool, t) in &s.tool_timeouts {
                if t.0.is_zero() {
                    p.push(
                        Problem::new(
                            at(&format!("tool_timeouts.{tool}")),
                            "is 0, so every call would time out at once",
                        )
                        .fix("give the tool the time it needs, e.g. `30s`"),
                    );
                }
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                p.push(
                    Problem::new(
                        format!("servers.{name}"),
                        "server names may use letters, digits, `_` and `-` only",
                    )
                    .fix("rename the server"),
                );
            }
            if !self.federation.separator.is_empty() && name.contains(&self.federation.separator) {
                p.push(
                    Problem::new(format!("servers.{name}"), format!("the name contains the separator `{}`, which makes namespaced names ambiguous", self.federation.separator))
                        .fix("rename the server or set `prefix:`"),
                );
            }
            let prefix = s.prefix.as_deref().unwrap_or(name);
            if let Some((other, _)) = prefixes.iter().find(|(_, pf)| *pf == prefix) {
                p.push(
                    Problem::new(
                        at("prefix"),
                        format!("prefix `{prefix}` is also used by server `{other}`"),
                    )
                    .fix("give one of them a different `prefix:`"),
                );
            }
            prefixes.push((name, prefix));
            if s.protocol == ProtocolMode::Modern && s.transport == Some(TransportKind::Sse) {
                p.push(
                    Problem::new(
                        at("protocol"),
                        "the legacy HTTP+SSE transport cannot carry protocol 2026-07-28",
                    )
                    .fix("use `protocol: legacy` (or `auto`), or `type: http`"),
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
                            Problem::new(at("command"), "is empty").fix("name the program to run"),
                        );
                    }
                    if matches!(s.transport, Some(TransportKind::Http | TransportKind::Sse)) {
                        p.push(
                            Problem::new(
                                at("type"),
                                "an HTTP transport needs `url`, not `command`",
                            )
                            .fix("remove `type` or use `type: stdio`"),
                        );
                    }
                    if !s.headers.is_empty() {
                        p.push(
                            Problem::new(at("headers"), "only apply to HTTP servers")
                                .fix("pass credentials to a stdio server with `env`"),
                        );
                    }
                }
                (None, Some(url)) => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        p.push(
                            Problem::new(at("url"), format!("`{url}` is not an http(s) URL"))
                                .fix("write e.g. `http://127.0.0.1:3001/mcp`"),
                        );
                    }
                    if s.transport == Some(TransportKind::Stdio) {
                        p.push(
                            Problem::new(at("type"), "`stdio` needs `command`, not `url`")
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
            if s.isolation == crate::Isolation::Session && s.command.is_none() {
                p.push(
                    Problem::new(
                        at("isolation"),
                        "`session` isolation applies to stdio servers (`command`)",
                    )
                    .fix("remove `isolation` for HTTP servers"),
                );
            }
            if s.timeout.0.is_zero() {
                p.push(Problem::new(at("timeout"), "must be above zero").fix("e.g. `60s`"));
            }
            if let Some(pool) = &s.pool {
                validate_pool(pool, s, &at, &mut p);
            }
            if s.max_concurrency == Some(0) {
                p.push(
                    Problem::new(at("max_concurrency"), "is 0, so no call could ever be made")
                        .fix("use at least 1, or remove it for no limit"),
                );
            }
            if s.queue_timeout.is_some() && s.max_concurrency.is_none() {
                p.push(
                    Problem::new(
                        at("queue_timeout"),
                        "has no effect without `max_concurrency`",
                    )
                    .fix("set `max_concurrency`, or remove `queue_timeout`"),
                );
            }
            if s.restart.initial_backoff.0 > s.restart.max_backoff.0 {
                p.push(
                    Problem::new(
                        at("restart.initial_backoff"),
                        "is longer than `max_backoff`",
                    )
                    .fix("make `initial_backoff` ≤ `max_backoff`"),
                );
            }
        }
        p
    }
}

/// A pool's own checks, and the server settings it cannot go with.
fn validate_pool(
    pool: &crate::PoolConfig,
    s: &crate::ServerConfig,
    at: &dyn Fn(&str) -> String,
    p: &mut Vec<Problem>,
) {
    if s.kind() != TransportKind::Stdio {
        p.push(
            Problem::new(
                at("pool"),
                "process pools apply to stdio servers (`command`) only",
            )
            .fix("remove `pool`; to bound calls to an HTTP server use `max_concurrency`"),
        );
    }
    if s.isolation == crate::Isolation::Session {
        p.push(
            Problem::new(
                at("pool"),
                "cannot go with `isolation: session` (each session already has its own process)",
            )
            .fix("remove `pool` or `isolation`"),
        );
    }
    if pool.max == 0 {
        p.push(
            Problem::new(at("pool.max"), "is 0, so no process could run")
                .fix("use at least 1, e.g. `max: 10`"),
        );
    }
    if let Some(min) = pool.min
        && min > pool.max
    {
        p.push(
            Problem::new(
                at("pool.min"),
                format!("is {min}, more than `max` ({})", pool.max),
            )
            .fix("make `min` ≤ `max`"),
        );
    }
    if pool.idle_timeout.0.is_zero() {
        p.push(
            Problem::new(
                at("pool.idle_timeout"),
                "is 0, so extra processes would stop between calls",
            )
            .fix("e.g. `30s`"),
        );
    }
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
