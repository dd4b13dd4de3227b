//! Semantic checks, the last stage of loading: what the JSON Schema cannot express. Each
//! `check_*` function looks at one section and returns its problems; [`Config::validate`] runs
//! them all, in a fixed order, so that every problem is reported at once.

mod auth;
mod routes;
mod servers;
mod workflows;

pub use routes::compile_mapping;
#[cfg(test)]
mod composition_tests;

use std::net::SocketAddr;

use indexmap::IndexMap;

use crate::{
    AdminConfig, CacheConfig, CacheStore, Config, FederationConfig, HttpConfig, MrtrConfig,
    PrefixMode, Problem, ServerConfig, TelemetryConfig,
};

impl Config {
    /// Semantic checks the schema cannot express. Returns every problem found.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = check_http(&self.http);
        p.extend(check_federation(&self.federation));
        let roles = self.effective_roles();
        p.extend(auth::check_role_rates(&roles));
        match &self.auth {
            None => p.extend(auth::check_roles_without_auth(&self.roles)),
            Some(a) => p.extend(auth::check_auth(a, &roles)),
        }
        p.extend(auth::check_admin_permissions(
            &roles,
            self.auth.as_ref().and_then(|a| a.anonymous_role.as_deref()),
        ));
        p.extend(check_admin(&self.admin, &self.http.listen, &self.servers));
        p.extend(check_telemetry(&self.telemetry));
        p.extend(check_cache(&self.cache));
        p.extend(check_request_state(&self.mrtr));
        if let Some(c) = &self.cluster {
            p.extend(check_cluster(c));
        }
        if let Some(t) = &self.tasks {
            let durable_workflows = self.workflows.values().any(|w| w.task);
            p.extend(check_tasks(t, durable_workflows));
        }
        p.extend(workflows::check_workflows(
            &self.workflows,
            &self.servers,
            self.tasks.is_some(),
            &self.federation,
        ));
        p.extend(routes::check_views(&self.views, &self.http.served_paths()));
        p.extend(routes::check_tool_search(
            self.tool_search.as_ref(),
            &self.routes,
            &self.servers,
        ));
        p.extend(routes::check_routes(
            &self.routes,
            &self.servers,
            &self.federation.separator,
        ));
        p.extend(servers::check_servers(
            &self.servers,
            &self.federation.separator,
        ));
        p
    }
}

/// `http`: the listen address, the endpoint path, the body limit.
fn check_http(http: &HttpConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    if http.listen.parse::<SocketAddr>().is_err() {
        p.push(
            Problem::new(
                "http.listen",
                format!("`{}` is not an address", http.listen),
            )
            .fix("write host:port, e.g. `127.0.0.1:8080` or `0.0.0.0:8080`"),
        );
    }
    if !http.path.starts_with('/') {
        p.push(Problem::new("http.path", "must start with `/`").fix("e.g. `/mcp`"));
    }
    let sse = &http.legacy_sse;
    if sse.enabled {
        for (key, path) in [
            ("http.legacy_sse.path", &sse.path),
            ("http.legacy_sse.messages_path", &sse.messages_path),
        ] {
            if !path.starts_with('/') {
                p.push(Problem::new(key, "must start with `/`").fix("e.g. `/sse` and `/messages`"));
            } else if *path == http.path {
                p.push(
                    Problem::new(key, format!("`{path}` is also http.path")).fix(
                        "give the legacy transport paths of its own, e.g. `/sse` and `/messages`",
                    ),
                );
            }
        }
        if sse.path == sse.messages_path {
            p.push(
                Problem::new(
                    "http.legacy_sse.messages_path",
                    "is the same as http.legacy_sse.path",
                )
                .fix("e.g. `/sse` for the stream and `/messages` for the POSTs"),
            );
        }
    }
    if http.max_body_bytes < 1024 {
        p.push(
            Problem::new(
                "http.max_body_bytes",
                "is below 1024 bytes; no MCP request fits",
            )
            .fix("use at least 65536"),
        );
    }
    p
}

/// `federation`: a separator when names are prefixed.
fn check_federation(federation: &FederationConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    if federation.separator.is_empty() && federation.prefix == PrefixMode::Server {
        p.push(
            Problem::new(
                "federation.separator",
                "is empty, so prefixes run into names",
            )
            .fix("use `__` (the default) or another separator"),
        );
    }
    p
}

/// `admin`: its own address (not the client listener's), the upstreams readiness waits for
/// (`servers` names), the memory and disk sizes.
fn check_admin(
    admin: &AdminConfig,
    http_listen: &str,
    servers: &IndexMap<String, ServerConfig>,
) -> Vec<Problem> {
    let mut p = Vec::new();
    if !admin.listen.is_empty() && admin.listen.parse::<SocketAddr>().is_err() {
        p.push(
            Problem::new(
                "admin.listen",
                format!("`{}` is not an address", admin.listen),
            )
            .fix("write host:port, e.g. `127.0.0.1:9090`, or leave it empty for no admin listener"),
        );
    }
    if !admin.listen.is_empty() && admin.listen == http_listen && !admin.listen.ends_with(":0") {
        p.push(
            Problem::new("admin.listen", "is the same address as `http.listen`")
                .fix("give the admin listener its own port, e.g. `127.0.0.1:9090`"),
        );
    }
    for (i, name) in admin.readiness.required_upstreams.iter().enumerate() {
        if name != "*" && !servers.contains_key(name) {
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
    p
}

/// `telemetry`: the sample ratio is a fraction, the OTLP endpoint an http(s) URL.
fn check_telemetry(t: &TelemetryConfig) -> Vec<Problem> {
    let mut p = Vec::new();
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
    p
}

/// `cache`: room for entries, a Redis URL for the Redis store, the rules' patterns and TTLs.
fn check_cache(cache: &CacheConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    if cache.enabled && cache.max_entries == 0 {
        p.push(
            Problem::new("cache.max_entries", "is 0, so nothing could be kept")
                .fix("set `cache.enabled: false` to turn the cache off, or keep e.g. 1000"),
        );
    }
    if cache.store == CacheStore::Redis && !cache.redis_url.starts_with("redis") {
        p.push(
            Problem::new(
                "cache.redis_url",
                format!("`{}` is not a redis:// or rediss:// URL", cache.redis_url),
            )
            .fix("e.g. `redis://127.0.0.1:6379`"),
        );
    }
    for (pattern, rule) in &cache.tools {
        if pattern.trim().is_empty() {
            p.push(Problem::new("cache.tools", "has an empty pattern").fix("e.g. `weather__*`"));
        }
        if rule.ttl.is_some_and(|t| t.0.is_zero()) {
            p.push(
                Problem::new(format!("cache.tools.{pattern}.ttl"), "is 0")
                    .fix("write `cache: false` to keep a tool out of the cache"),
            );
        }
    }
    p
}

/// `mrtr`: every request-state key is long enough for HMAC-SHA256.
fn check_request_state(mrtr: &MrtrConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    for (i, key) in mrtr.keys.iter().enumerate() {
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
    p
}

/// `tasks`: a store it can reach, workers and times above zero, a retry that can end.
/// `cluster`: a Redis URL.
fn check_cluster(c: &crate::ClusterConfig) -> Vec<Problem> {
    let u = c.url.trim();
    if u.starts_with("redis://") || u.starts_with("rediss://") || u.starts_with("redis+unix://") {
        Vec::new()
    } else {
        vec![
            Problem::new("cluster.url", format!("`{u}` is not a redis:// URL"))
                .fix("e.g. `redis://127.0.0.1:6379`; every replica names the same Redis"),
        ]
    }
}

fn check_tasks(t: &crate::TasksConfig, durable_workflows: bool) -> Vec<Problem> {
    use crate::TaskStoreKind;
    let mut p = Vec::new();
    match (t.store, &t.url) {
        (TaskStoreKind::Redis, None) => p.push(
            Problem::new("tasks.url", "is missing: the redis store needs it")
                .fix("add `url: redis://127.0.0.1:6379`"),
        ),
        (TaskStoreKind::Postgres, None) => p.push(
            Problem::new("tasks.url", "is missing: the postgres store needs it")
                .fix("add `url: postgres://user@127.0.0.1/db`"),
        ),
        (TaskStoreKind::Redis, Some(u))
            if !u.starts_with("redis://") && !u.starts_with("rediss://") =>
        {
            p.push(
                Problem::new("tasks.url", format!("`{u}` is not a redis:// URL"))
                    .fix("e.g. `redis://127.0.0.1:6379`"),
            )
        }
        (TaskStoreKind::Postgres, Some(u))
            if !u.starts_with("postgres://") && !u.starts_with("postgresql://") =>
        {
            p.push(
                Problem::new("tasks.url", format!("`{u}` is not a postgres:// URL"))
                    .fix("e.g. `postgres://user@127.0.0.1/db`"),
            )
        }
        _ => {}
    }
    if t.store == TaskStoreKind::Sqlite && t.path.trim().is_empty() {
        p.push(
            Problem::new("tasks.path", "is empty")
                .fix("name the SQLite file, e.g. `switchboard-tasks.db`"),
        );
    }
    if t.workers == 0 {
        p.push(Problem::new("tasks.workers", "is 0, so no task would ever run").fix("e.g. `8`"));
    }
    for (key, d) in [
        ("tasks.ttl", t.ttl),
        ("tasks.poll_interval", t.poll_interval),
        ("tasks.lease", t.lease),
    ] {
        if d.0.is_zero() {
            p.push(Problem::new(key, "is 0").fix("give it a duration, e.g. `30s`"));
        }
    }
    for (pattern, rule) in &t.tools {
        if rule.timeout.is_some_and(|d| d.0.is_zero()) {
            p.push(
                Problem::new(format!("tasks.tools.{pattern}.timeout"), "is 0")
                    .fix("give it a duration, e.g. `30m`, or remove it for the server's"),
            );
        }
    }
    if t.retry.attempts == 0 {
        p.push(
            Problem::new("tasks.retry.attempts", "is 0, so no call would be made")
                .fix("`1` for no retries"),
        );
    }
    if !(t.retry.backoff >= 1.0 && t.retry.backoff.is_finite()) {
        p.push(
            Problem::new("tasks.retry.backoff", "is below 1: waits would shrink").fix("e.g. `2.0`"),
        );
    }
    if t.tools.is_empty() && !durable_workflows {
        p.push(
            Problem::new(
                "tasks.tools",
                "names no tool, so nothing would run as a task",
            )
            .fix("add e.g. `\"reports__*\": {mode: optional}`"),
        );
    }
    p
}

/// A name that can stand in a tool's name: letters, digits, `_` and `-`, not empty.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}
