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
