//! The configuration types. Every struct denies unknown keys; the JSON Schema is derived from
//! these same types (`switchboard schema`).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Dur;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The client-facing Streamable HTTP listener (`switchboard serve`).
    #[serde(default)]
    pub http: HttpConfig,
    /// How the upstream catalogues are merged into one.
    #[serde(default)]
    pub federation: FederationConfig,
    /// Logging of the gateway itself.
    #[serde(default)]
    pub log: LogConfig,
    /// The upstream MCP servers, by name. A Claude Desktop `mcpServers` entry is accepted
    /// unchanged (`command`/`args`/`env`/`cwd`, or `url`/`headers`), and the key may be spelled
    /// `mcpServers` too.
    #[serde(default, alias = "mcpServers")]
    pub servers: IndexMap<String, ServerConfig>,
}

/// The Streamable HTTP endpoint clients connect to.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080` (`:0` picks a free port).
    pub listen: String,
    /// Path of the MCP endpoint.
    pub path: String,
    /// Largest request body accepted; larger bodies get HTTP 413.
    pub max_body_bytes: u64,
    /// Origins allowed to call the endpoint from a browser (DNS-rebinding protection). Requests
    /// with an `Origin` header not in this list get 403. Loopback origins are allowed when the
    /// list is empty. `"*"` allows any origin.
    pub allowed_origins: Vec<String>,
    /// Host names (the `Host` header, without port) accepted. Empty means: loopback names only
    /// when listening on a loopback address, any host otherwise. `"*"` allows any host.
    pub allowed_hosts: Vec<String>,
    /// A session with no traffic for this long is closed.
    pub session_idle_timeout: Dur,
    /// Most concurrent sessions; `initialize` beyond this gets HTTP 503.
    pub max_sessions: usize,
    /// On shutdown, how long in-flight calls may take to finish before they are cut.
    pub shutdown_grace: Dur,
    /// How to answer a POSTed request: `auto` answers with plain JSON unless the call produces
    /// notifications or server→client requests first, then switches to an SSE stream.
    pub response_mode: ResponseMode,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            path: "/mcp".into(),
            max_body_bytes: 4 * 1024 * 1024,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            session_idle_timeout: Dur::secs(30 * 60),
            max_sessions: 10_000,
            shutdown_grace: Dur::secs(30),
            response_mode: ResponseMode::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResponseMode {
    #[default]
    Auto,
    Json,
    Sse,
}

/// How names from different servers are kept apart.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Put between the server prefix and the original name: `github__create_issue`.
    pub separator: String,
    /// `server`: prefix every tool and prompt with its server's name (or its `prefix`);
    /// `none`: keep the original names (the first server listed wins a name clash, and the
    /// clash is reported in the logs and by `switchboard check`).
    pub prefix: PrefixMode,
    /// `keep`: resource URIs are passed through unchanged and routed by exact URI, then by
    /// template; `prefix`: URIs are rewritten to `<server>+<uri>` so that two servers may use
    /// the same URI.
    pub resource_uris: UriMode,
    /// Entries per page in merged `*/list` results; 0 returns everything in one page.
    pub page_size: usize,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            separator: "__".into(),
            prefix: PrefixMode::Server,
            resource_uris: UriMode::Keep,
            page_size: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum PrefixMode {
    #[default]
    Server,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum UriMode {
    #[default]
    Keep,
    Prefix,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `switchboard=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

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
    /// Longest time the server may take to start and answer `initialize`.
    #[serde(
        default = "default_init_timeout",
        skip_serializing_if = "is_default_init_timeout"
    )]
    pub init_timeout: Dur,
    /// How a crashed stdio server is restarted.
    #[serde(default, skip_serializing_if = "is_default_restart")]
    pub restart: RestartPolicy,
    /// On stop: after closing stdin, wait this long before SIGTERM, and again before SIGKILL.
    #[serde(
        default = "default_shutdown_timeout",
        skip_serializing_if = "is_default_shutdown_timeout"
    )]
    pub shutdown_timeout: Dur,
}

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
            init_timeout: default_init_timeout(),
            restart: RestartPolicy::default(),
            shutdown_timeout: default_shutdown_timeout(),
        }
    }

    /// The transport this entry uses, inferring it when `type` is absent.
    pub fn kind(&self) -> TransportKind {
        match (self.transport, &self.command) {
            (Some(k), _) => k,
            (None, Some(_)) => TransportKind::Stdio,
            (None, None) => TransportKind::Http,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled && !self.disabled
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
