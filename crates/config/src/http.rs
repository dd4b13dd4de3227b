//! The `http:` section: the client-facing Streamable HTTP listener and how it answers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Dur;

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
    /// On SIGTERM, how long to keep serving before the listener stops accepting: `/readyz`
    /// answers 503 at once and every answer closes its connection (`Connection: close`), so
    /// a load balancer takes this replica out without a call lost. Behind a balancer set it
    /// above the balancer's health-check interval × fall count (e.g. 5s). Ctrl-C and a second
    /// signal skip it.
    pub shutdown_delay: Dur,
    /// How to answer a POSTed request: `auto` answers with plain JSON unless the call produces
    /// notifications or server→client requests first, then switches to an SSE stream.
    pub response_mode: ResponseMode,
    /// The 2024-11-05 HTTP+SSE transport, for clients that speak only it (off by default).
    pub legacy_sse: LegacySseConfig,
}

/// The 2024-11-05 HTTP+SSE client transport: a client opens an event stream with GET at
/// `path`, is told (in an `endpoint` event) where to POST its messages, and receives every
/// answer on the stream. Each stream is a session, served through the same pipeline as
/// Streamable HTTP (authentication, roles, limits, audit).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LegacySseConfig {
    /// Serve the transport.
    pub enabled: bool,
    /// Where clients open the event stream (GET).
    pub path: String,
    /// Where clients POST their messages (`?sessionId=` names the stream).
    pub messages_path: String,
}

impl HttpConfig {
    /// The paths the client endpoint serves, each with the key that sets it.
    pub fn served_paths(&self) -> Vec<(&'static str, &str)> {
        let mut paths = vec![("http.path", self.path.as_str())];
        if self.legacy_sse.enabled {
            paths.push(("http.legacy_sse.path", &self.legacy_sse.path));
            paths.push((
                "http.legacy_sse.messages_path",
                &self.legacy_sse.messages_path,
            ));
        }
        paths
    }
}

impl Default for LegacySseConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            path: "/sse".into(),
            messages_path: "/messages".into(),
        }
    }
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
            shutdown_delay: Dur::secs(0),
            response_mode: ResponseMode::Auto,
            legacy_sse: LegacySseConfig::default(),
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
