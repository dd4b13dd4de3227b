//! The `servers:` section: one entry per upstream MCP server (Claude Desktop's keys plus the
//! gateway's: transport, isolation, timeouts, restart policy, protocol era, process pool,
//! concurrency limit).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Dur;

/// One upstream MCP server: a child process speaking stdio (`command`) or an HTTP server
/// (`url`). The first five keys are exactly Claude Desktop's.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Program to start (stdio server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment for the process (values may use `${VAR}`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Working directory of the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// URL of an HTTP server (Streamable HTTP, or legacy HTTP+SSE with `type: sse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Headers sent to the HTTP server on every request (e.g. its own credentials).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// Transport, normally inferred: `stdio` with `command`, `http` with `url`.
    #[serde(
        default,
        rename = "type",
        alias = "transport",
        skip_serializing_if = "Option::is_none"
    )]
    pub transport: Option<TransportKind>,
    /// Set `false` (or Claude-style `disabled: true`) to keep the entry but not start it.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Claude Desktop/Cline style switch; `disabled: true` is the same as `enabled: false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// `shared` (default): one process serves every client session. `session`: each client
    /// session gets its own process (started on its first call, stopped when the session
    /// ends), for servers that keep per-client state or send sampling/elicitation/roots
    /// requests to clients that call them concurrently. Listings come from a shared instance.
    #[serde(default, skip_serializing_if = "Isolation::is_shared")]
    pub isolation: Isolation,
    /// Name used in front of this server's tools and prompts instead of the server's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Longest time a call to this server may take before the client gets an error and the
    /// upstream request is cancelled.
    #[serde(
        default = "default_timeout",
        skip_serializing_if = "is_default_timeout"
    )]
    pub timeout: Dur,
    /// Per-tool timeouts that replace `timeout` for those tools (the server's own tool
    /// names): `{generate_report: 5m, lookup: 2s}`. On expiry the caller gets an error and
    /// the server a `notifications/cancelled`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tool_timeouts: IndexMap<String, Dur>,
    /// Longest time the server may take to start and answer `initialize`.
    #[serde(
        default = "default_init_timeout",
        skip_serializing_if = "is_default_init_timeout"
    )]
    pub init_timeout: Dur,
    /// How a crashed stdio server is restarted.
    #[serde(default, skip_serializing_if = "is_default_restart")]
    pub restart: RestartPolicy,
    /// Protocol era to speak with this server. `auto` (default): `initialize` (2025-11-25 and
    /// earlier), then `server/discover` (2026-07-28); whatever the server accepts is used, and
    /// each client is served in its own era when the server speaks it. `legacy`: `initialize`
    /// only. `modern`: `server/discover` only, stateless requests.
    #[serde(default, skip_serializing_if = "ProtocolMode::is_auto")]
    pub protocol: ProtocolMode,
    /// How long to wait for an answer to the `server/discover` probe before deciding the
    /// server is session-era only.
    #[serde(
        default = "default_probe_timeout",
        skip_serializing_if = "is_default_probe_timeout"
    )]
    pub probe_timeout: Dur,
    /// On stop: after closing stdin, wait this long before SIGTERM, and again before SIGKILL.
    #[serde(
        default = "default_shutdown_timeout",
        skip_serializing_if = "is_default_shutdown_timeout"
    )]
    pub shutdown_timeout: Dur,
    /// A pool of processes for a stdio server that handles one request at a time: calls go
    /// to the least busy process, more are started under load (up to `max`), idle ones are
    /// stopped. Absent: one process.
    // Schema: the entry itself (not "entry or null"), so a mistyped key is named as such.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PoolConfig")]
    pub pool: Option<PoolConfig>,
    /// At most this many calls in flight to this server at once (any transport); further
    /// calls wait in a queue for up to `queue_timeout`, then fail as busy. Absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    /// With `max_concurrency`: how long a call may wait for its turn (default 60s, or the
    /// pool's `acquire_timeout` for a pooled server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_timeout: Option<Dur>,
    /// An OpenAPI 3.0/3.1 document (a file, relative to the config file, or an http(s) URL;
    /// JSON or YAML): each operation becomes a tool the gateway serves itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<String>,
    /// Where the HTTP API answers (`openapi`, `http_tools`); with `openapi`, the document's
    /// first `servers` entry when absent. Calls go to this base only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// With `openapi`: which operations become tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<crate::OperationFilter>,
    /// Tools the gateway serves itself by calling the HTTP API at `base_url`, by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub http_tools: IndexMap<String, crate::HttpToolConfig>,
    /// jq expressions shaping the JSON answers of the tools a glob names (the tool's own
    /// `response` wins): `{"get_*": "{id, name}"}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub responses: IndexMap<String, String>,
    /// HTTP API tools: the longest answer text handed to the client; longer ones are cut with
    /// a note saying so (default 100000 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<usize>,
    /// HTTP API tools: tell the API who is calling (a JWT the gateway signs, or plain headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_identity: Option<crate::ForwardIdentity>,
    /// Set by loading, not written: the `openapi` file's size and modification time, so a
    /// reload replaces the server when its document changed although the entry did not.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub openapi_fingerprint: Option<String>,
    /// Set by loading, not written: the `workflows` section, on the entry that serves it
    /// ([`crate::WORKFLOWS_SERVER`]). Serialized, so a reload that changes a workflow
    /// replaces the entry.
    #[serde(
        default,
        skip_deserializing,
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(skip)]
    pub workflows: IndexMap<String, crate::WorkflowConfig>,
    /// Set by loading, not written: the `routes` section, on the entry that serves it
    /// ([`crate::ROUTES_SERVER`]).
    #[serde(
        default,
        skip_deserializing,
        skip_serializing_if = "IndexMap::is_empty"
    )]
    #[schemars(skip)]
    pub routes: IndexMap<String, crate::RouteConfig>,
    /// Set by loading, not written: the `tool_search` section, on the entry that serves it.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub tool_search: Option<crate::ToolSearchConfig>,
}

// The defaults of `ServerConfig`'s keys, and the tests that leave a default out of written YAML.
fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_default_timeout(d: &Dur) -> bool {
    *d == default_timeout()
}
fn is_default_init_timeout(d: &Dur) -> bool {
    *d == default_init_timeout()
}
fn is_default_shutdown_timeout(d: &Dur) -> bool {
    *d == default_shutdown_timeout()
}
fn is_default_restart(r: &RestartPolicy) -> bool {
    *r == RestartPolicy::default()
}
fn default_timeout() -> Dur {
    Dur::secs(60)
}
fn default_init_timeout() -> Dur {
    Dur::secs(30)
}
fn default_shutdown_timeout() -> Dur {
    Dur::secs(3)
}
fn default_probe_timeout() -> Dur {
    Dur::secs(5)
}
fn is_default_probe_timeout(d: &Dur) -> bool {
    *d == default_probe_timeout()
}

impl ServerConfig {
    /// An entry for a stdio server with defaults for every gateway option.
    pub fn stdio(command: impl Into<String>, args: Vec<String>) -> Self {
        Self {
            command: Some(command.into()),
            args,
            env: IndexMap::new(),
            cwd: None,
            url: None,
            headers: IndexMap::new(),
            transport: None,
            enabled: true,
            disabled: false,
            isolation: Isolation::Shared,
            prefix: None,
            timeout: default_timeout(),
            tool_timeouts: IndexMap::new(),
            init_timeout: default_init_timeout(),
            restart: RestartPolicy::default(),
            protocol: ProtocolMode::Auto,
            probe_timeout: default_probe_timeout(),
            shutdown_timeout: default_shutdown_timeout(),
            pool: None,
            max_concurrency: None,
            queue_timeout: None,
            openapi: None,
            base_url: None,
            operations: None,
            http_tools: IndexMap::new(),
            responses: IndexMap::new(),
            max_response_bytes: None,
            forward_identity: None,
            openapi_fingerprint: None,
            workflows: IndexMap::new(),
            routes: IndexMap::new(),
            tool_search: None,
        }
    }

    /// An entry for a Streamable HTTP server with defaults for every gateway option.
    pub fn http(url: impl Into<String>) -> Self {
        Self {
            command: None,
            url: Some(url.into()),
            transport: Some(TransportKind::Http),
            ..Self::stdio(String::new(), Vec::new())
        }
    }

    /// The transport this entry uses, inferring it when `type` is absent.
    pub fn kind(&self) -> TransportKind {
        if !self.workflows.is_empty() {
            return TransportKind::Workflows;
        }
        if !self.routes.is_empty() {
            return TransportKind::Routes;
        }
        if self.tool_search.is_some() {
            return TransportKind::ToolSearch;
        }
        match (self.transport, &self.command) {
            (Some(k), _) => k,
            (None, Some(_)) => TransportKind::Stdio,
            (None, None) if self.is_http_api() => TransportKind::HttpApi,
            (None, None) => TransportKind::Http,
        }
    }

    /// Whether the gateway serves this entry's tools itself from an HTTP API (`openapi` or
    /// `http_tools`).
    pub fn is_http_api(&self) -> bool {
        self.openapi.is_some() || !self.http_tools.is_empty()
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled && !self.disabled
    }

    /// How long a call waits for its turn under `max_concurrency`: `queue_timeout`, else the
    /// pool's `acquire_timeout`, else 60s.
    pub fn queue_wait(&self) -> Dur {
        self.queue_timeout
            .or(self.pool.as_ref().map(|p| p.acquire_timeout))
            .unwrap_or(Dur::secs(60))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    #[default]
    Shared,
    Session,
}

impl Isolation {
    pub fn is_shared(&self) -> bool {
        *self == Isolation::Shared
    }
}

/// Which protocol era to speak with an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolMode {
    /// Probe: `initialize`, then `server/discover`; use every era the server accepts.
    #[default]
    Auto,
    /// Session-based revisions only (2025-11-25 and earlier).
    Legacy,
    /// Stateless 2026-07-28 only.
    Modern,
}

impl ProtocolMode {
    pub fn is_auto(&self) -> bool {
        *self == ProtocolMode::Auto
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio,
    /// Streamable HTTP (protocol 2025-03-26 and later).
    #[serde(alias = "streamable-http", alias = "streamableHttp")]
    Http,
    /// The legacy HTTP+SSE transport (protocol 2024-11-05).
    Sse,
    /// Not an MCP server: an HTTP API whose operations the gateway serves as tools
    /// (`openapi`, `http_tools`); inferred from those keys.
    HttpApi,
    /// Not an MCP server: the gateway's own workflows (the entry loading adds for the
    /// `workflows` section; never written in a config).
    #[serde(skip)]
    #[schemars(skip)]
    Workflows,
    /// Not an MCP server: the gateway's routes (the entry loading adds for `routes`).
    #[serde(skip)]
    #[schemars(skip)]
    Routes,
    /// Not an MCP server: the tool-search meta-tools (the entry loading adds).
    #[serde(skip)]
    #[schemars(skip)]
    ToolSearch,
}

/// Restart policy for stdio servers: exponential backoff, and crash-loop detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RestartPolicy {
    /// First wait after a crash.
    pub initial_backoff: Dur,
    /// Longest wait between attempts.
    pub max_backoff: Dur,
    /// This many crashes within `crash_loop_window` mark the server crash-looping: it is
    /// reported (logs, `switchboard check`, listings) and retried at `max_backoff` only.
    pub crash_loop_restarts: u32,
    pub crash_loop_window: Dur,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Dur::millis(250),
            max_backoff: Dur::secs(30),
            crash_loop_restarts: 5,
            crash_loop_window: Dur::secs(60),
        }
    }
}

/// A pool of stdio server processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Processes kept running even when idle (the first one always runs). Default: 2, or
    /// `max` if that is lower.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<usize>,
    /// Most processes at once.
    pub max: usize,
    /// A process beyond `min` with no call for this long is stopped.
    pub idle_timeout: Dur,
    /// How long a call waits for a process when none is ready (within the call's `timeout`).
    pub acquire_timeout: Dur,
}

impl PoolConfig {
    /// Processes kept running: `min` (default 2, at most `max`), and at least one.
    pub fn min_processes(&self) -> usize {
        self.min.unwrap_or(2).min(self.max).max(1)
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            min: None,
            max: 10,
            idle_timeout: Dur::secs(30),
            acquire_timeout: Dur::secs(60),
        }
    }
}
