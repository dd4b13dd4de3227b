//! Connections to upstream MCP servers.
//!
//! Each configured server gets one [`Upstream`]: a supervised connection that the gateway calls
//! with [`Upstream::call`]. stdio servers are child processes restarted with exponential
//! backoff and crash-loop detection; HTTP servers speak Streamable HTTP over a keep-alive pool.
//! Whatever the transport, messages an upstream sends *about* a call (progress, logging,
//! sampling/elicitation/roots requests) are handed to that call's [`Relay`], so they reach the
//! client that made the call and no other.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod error;
mod http;
mod init;
mod legacy_sse;
mod mux;
mod relay;
mod stdio;
mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use switchboard_config::{ServerConfig, TransportKind};
use switchboard_protocol::Notification;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use error::CallError;
pub use init::InitInfo;
pub use relay::{Relay, RelayFuture};

/// What the gateway hears from upstreams outside of any call.
#[derive(Debug)]
pub enum UpstreamEvent {
    /// The server finished `initialize` (first start or after a restart).
    Ready { server: Arc<str> },
    /// The server went down; calls fail until it is back.
    Down { server: Arc<str>, reason: String },
    /// A notification not tied to a call: list changes, resource updates, unattributable logs.
    Notification {
        server: Arc<str>,
        notification: Notification,
    },
}

/// Where an upstream is in its life.
#[derive(Debug, Clone)]
pub enum Status {
    Starting,
    Ready(Arc<InitInfo>),
    /// Down, waiting `retry_in` before the next start.
    Restarting {
        reason: String,
        retry_in: Duration,
    },
    /// Crashed `restarts` times within the window; retried at the longest backoff only.
    CrashLoop {
        reason: String,
        restarts: u32,
    },
    Stopped,
}

impl Status {
    pub fn is_ready(&self) -> bool {
        matches!(self, Status::Ready(_))
    }

    /// A one-line description for listings and health checks.
    pub fn describe(&self) -> String {
        match self {
            Status::Starting => "starting".into(),
            Status::Ready(i) => format!(
                "ready ({} {}, protocol {})",
                i.server_name, i.server_version, i.protocol_version
            ),
            Status::Restarting { reason, retry_in } => {
                format!("down: {reason}; restarting in {retry_in:?}")
            }
            Status::CrashLoop { reason, restarts } => {
                format!("crash-looping ({restarts} crashes): {reason}")
            }
            Status::Stopped => "stopped".into(),
        }
    }
}

/// One upstream server, shared by every client session.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<dyn Backend>,
    name: Arc<str>,
    status: watch::Receiver<Status>,
    timeout: Duration,
    init_timeout: Duration,
}

/// A call's options.
pub struct CallOptions {
    /// Where notifications and server→client requests about this call go; `None` if the
    /// client cannot receive any (they are then logged and refused).
    pub relay: Option<Arc<dyn Relay>>,
    /// Cancelled when the client cancels or goes away; the upstream request is then cancelled.
    pub cancel: CancellationToken,
    /// Overrides the server's configured timeout.
    pub timeout: Option<Duration>,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            relay: None,
            cancel: CancellationToken::new(),
            timeout: None,
        }
    }
}

trait Backend: Send + Sync {
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        timeout: Duration,
    ) -> futures_util::future::BoxFuture<'a, Result<Box<RawValue>, CallError>>;
    fn notify(&self, method: &str, params: Option<Box<RawValue>>);
    fn shutdown(&self) -> futures_util::future::BoxFuture<'_, ()>;
}

impl Upstream {
    /// Start the connection for `config` in the background; returns at once.
    pub fn start(
        name: &str,
        config: &ServerConfig,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Upstream {
        let name: Arc<str> = Arc::from(name);
        let (status_tx, status) = watch::channel(Status::Starting);
        let inner: Arc<dyn Backend> = match config.kind() {
            TransportKind::Stdio => {
                supervisor::StdioUpstream::start(name.clone(), config.clone(), status_tx, events)
            }
            TransportKind::Http => {
                http::HttpUpstream::start(name.clone(), config.clone(), status_tx, events)
            }
            TransportKind::Sse => legacy_sse::LegacySseUpstream::start(
                name.clone(),
                config.clone(),
                status_tx,
                events,
            ),
        };
        Upstream {
            inner,
            name,
            status,
            timeout: config.timeout.0,
            init_timeout: config.init_timeout.0,
        }
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that changes whenever the status does.
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// Wait until the server is ready or has failed to start, at most `limit`.
    pub async fn wait_settled(&self, limit: Duration) -> Status {
        let mut rx = self.status.clone();
        let settled = |s: &Status| !matches!(s, Status::Starting);
        let _ = tokio::time::timeout(limit, rx.wait_for(settled)).await;
        self.status()
    }

    /// Send a request and wait for its result. JSON-RPC errors from the server come back as
    /// [`CallError::Rpc`], unchanged.
    pub async fn call(
        &self,
        method: &str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
    ) -> Result<Box<RawValue>, CallError> {
        let timeout = opts.timeout.unwrap_or(self.timeout);
        // A server that is starting or restarting after a crash gets the time it is allowed
        // to start in (within the call's own timeout); a crash-looping one fails at once.
        let coming = |s: &Status| matches!(s, Status::Starting | Status::Restarting { .. });
        if coming(&self.status.borrow()) {
            let mut rx = self.status.clone();
            let wait = tokio::time::timeout(
                (self.init_timeout + Duration::from_secs(1)).min(timeout),
                rx.wait_for(|s| !coming(s)),
            );
            tokio::select! {
                _ = wait => {}
                _ = opts.cancel.cancelled() => return Err(CallError::Cancelled),
            }
        }
        self.inner.call(method, params, opts, timeout).await
    }

    /// Send a notification (e.g. `notifications/roots/list_changed`); dropped if not ready.
    pub fn notify(&self, method: &str, params: Option<Box<RawValue>>) {
        self.inner.notify(method, params)
    }

    /// Stop the server: close stdin, then SIGTERM, then SIGKILL (stdio); end the session (HTTP).
    pub async fn shutdown(&self) {
        self.inner.shutdown().await
    }
}
