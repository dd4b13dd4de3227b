//! Connections to upstream MCP servers.
//!
//! Each configured server gets one [`Upstream`]: a supervised connection that the gateway calls
//! with [`Upstream::call`]. stdio servers are child processes restarted with exponential
//! backoff and crash-loop detection; HTTP servers speak Streamable HTTP over a keep-alive pool.
//! Whatever the transport, messages an upstream sends *about* a call (progress, logging,
//! sampling/elicitation/roots requests) are handed to that call's [`Relay`], so they reach the
//! client that made the call and no other.
//!
//! What serves a server is a [`Backend`]; the gateway may bring its own kinds of backend
//! through [`BackendFactory`]s ([`Upstream::start_with`]), wrapped in the same limits.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod backend;
mod error;
mod http;
mod init;
mod legacy_sse;
mod mux;
mod pool;
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

pub use backend::{Backend, BackendFactory, Backends, Down};
pub use error::CallError;
pub use futures_util::future::BoxFuture;
pub use init::{Era, InitInfo};
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
                i.server_name,
                i.server_version,
                i.protocols()
            ),
            Status::Restarting { reason, retry_in } => {
                format!("down: {reason}; restarting in {retry_in:?}")
            }
            // Never started (its entry cannot be served): no crashes to count.
            Status::CrashLoop {
                reason,
                restarts: 0,
            } => format!("down: {reason}"),
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
    /// Built by a [`BackendFactory`]: the call's timeout and cancellation are enforced here
    /// (the built-in transports enforce them themselves, cancelling upstream).
    guarded: bool,
    name: Arc<str>,
    status: watch::Receiver<Status>,
    timeout: Duration,
    init_timeout: Duration,
    /// `max_concurrency`, when set.
    limit: Option<Arc<Limit>>,
    metrics: Arc<CallMetrics>,
}

/// This upstream's series (`mcp_upstream_*`), registered once so a call only touches atomics.
struct CallMetrics {
    in_flight: metrics::Gauge,
    /// This instance's calls in flight (the gauge is shared by every instance of the name,
    /// e.g. an old and a new one during a reload).
    calls: std::sync::atomic::AtomicUsize,
    duration: metrics::Histogram,
    /// By [`CallMetrics::KINDS`].
    errors: [metrics::Counter; 6],
}

impl CallMetrics {
    const KINDS: [&'static str; 6] = [
        "unavailable",
        "timeout",
        "failed",
        "busy",
        "cancelled",
        "rpc",
    ];

    fn new(server: &Arc<str>) -> Self {
        let label = || metrics::SharedString::from(server.clone());
        Self {
            in_flight: metrics::gauge!("mcp_upstream_in_flight", "server" => label()),
            calls: std::sync::atomic::AtomicUsize::new(0),
            duration: metrics::histogram!("mcp_upstream_request_duration_seconds", "server" => label()),
            errors: Self::KINDS.map(|kind| {
                metrics::counter!("mcp_upstream_errors_total", "server" => label(), "kind" => kind)
            }),
        }
    }

    fn error(&self, e: &CallError) {
        let i = match e {
            CallError::Unavailable { .. } => 0,
            CallError::Timeout { .. } => 1,
            CallError::Failed { .. } => 2,
            CallError::Busy { .. } => 3,
            CallError::Cancelled => 4,
            CallError::Rpc(_) => 5,
        };
        self.errors[i].increment(1);
    }
}

/// Counts a call in flight until dropped (also when the caller stops waiting).
struct InFlight<'a>(&'a CallMetrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.decrement(1.0);
        self.0
            .calls
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// At most `max` calls in flight; the rest wait up to `wait` for a turn.
struct Limit {
    permits: tokio::sync::Semaphore,
    max: usize,
    wait: Duration,
}

impl Limit {
    async fn acquire(
        &self,
        server: &str,
        cancel: &CancellationToken,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, CallError> {
        if let Ok(p) = self.permits.try_acquire() {
            return Ok(p);
        }
        tokio::select! {
            r = tokio::time::timeout(self.wait, self.permits.acquire()) => match r {
                Ok(Ok(p)) => Ok(p),
                // Timed out (the semaphore is never closed).
                _ => {
                    tracing::info!(server, max_concurrency = self.max, waited = ?self.wait, "upstream busy: call refused after queueing");
                    Err(CallError::Busy {
                        server: server.to_owned(),
                        limit: self.max,
                        waited: self.wait,
                    })
                }
            },
            _ = cancel.cancelled() => Err(CallError::Cancelled),
        }
    }
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
    /// The era to send the request in. `Some(Modern)`: the params already carry the caller's
    /// modern `_meta`. `None`: the gateway's own request; the server's session is used when it
    /// has one, else a modern request stamped with the gateway's own `_meta`.
    pub era: Option<Era>,
    /// `Mcp-Param-*` headers (name after the prefix, value) for a 2026-07-28 HTTP request.
    pub param_headers: Vec<(String, String)>,
    /// W3C trace context headers (`traceparent`, `tracestate`) for an HTTP upstream.
    pub trace_headers: Vec<(&'static str, String)>,
    /// Who the call is made for, for in-process backends (see [`Upstream::in_process`]) that
    /// call other tools as that caller through the gateway's dispatch seam. Opaque here: the
    /// gateway puts its `dispatch::Caller` in, a backend downcasts it. `None` for the built-in
    /// transports (the caller's credentials never travel upstream).
    pub on_behalf_of: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            relay: None,
            cancel: CancellationToken::new(),
            timeout: None,
            era: None,
            param_headers: Vec::new(),
            trace_headers: Vec::new(),
            on_behalf_of: None,
        }
    }
}

/// A server that speaks only 2026-07-28 has no session to send list changes on: while it is
/// ready, keep a `subscriptions/listen` open to it, so its list changes reach the gateway as
/// session-era servers' do. Reopened (with backoff) when it ends.
async fn listen_for_changes(up: Upstream) {
    let mut rx = up.status.clone();
    let mut failures = 0u32;
    loop {
        let info = {
            let Ok(s) = rx
                .wait_for(|s| matches!(s, Status::Ready(_) | Status::Stopped))
                .await
            else {
                return;
            };
            match &*s {
                Status::Ready(info) => info.clone(),
                _ => return,
            }
        };
        let wants = |cap: &str| {
            info.capabilities
                .get(cap)
                .and_then(|c| c.get("listChanged"))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
        };
        let filter = serde_json::json!({
            "toolsListChanged": wants("tools"),
            "promptsListChanged": wants("prompts"),
            "resourcesListChanged": wants("resources"),
        });
        if info.legacy
            || filter
                .as_object()
                .is_none_or(|f| f.values().all(|v| v == false))
        {
            // Changes arrive on the session, or the server announces none: wait for a change.
            if rx.changed().await.is_err() {
                return;
            }
            continue;
        }
        let cancel = CancellationToken::new();
        let opts = CallOptions {
            cancel: cancel.clone(),
            // Open for as long as the server is up.
            timeout: Some(Duration::from_secs(365 * 24 * 3600)),
            ..CallOptions::default()
        };
        let params = switchboard_protocol::to_raw(&serde_json::json!({"notifications": filter}));
        let started = std::time::Instant::now();
        let call = up.call(
            switchboard_protocol::methods::SUBSCRIPTIONS_LISTEN,
            Some(params),
            opts,
        );
        tokio::select! {
            r = call => {
                if started.elapsed() > Duration::from_secs(60) {
                    failures = 0;
                }
                failures += 1;
                let wait = Duration::from_millis(500u64.saturating_mul(1 << failures.min(6)));
                tracing::debug!(server = %up.name, outcome = ?r.map(|_| ()), retry_in = ?wait, "upstream subscriptions/listen ended; reopening");
                tokio::time::sleep(wait).await;
            }
            _ = rx.changed() => cancel.cancel(),
        }
    }
}

impl Upstream {
    /// Start the connection for `config` in the background; returns at once. Served by the
    /// built-in transports only; see [`Upstream::start_with`].
    pub fn start(
        name: &str,
        config: &ServerConfig,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Upstream {
        Self::start_with(name, config, events, &Backends::none())
    }

    /// As [`Upstream::start`], asking `backends`' factories first: the first that recognises
    /// the entry serves it; else the built-in transport for its `transport`/`command`/`url`.
    pub fn start_with(
        name: &str,
        config: &ServerConfig,
        events: mpsc::UnboundedSender<UpstreamEvent>,
        backends: &Backends,
    ) -> Upstream {
        let name: Arc<str> = Arc::from(name);
        let (inner, status, guarded) = match backends.build(&name, config, &events) {
            Some((inner, status)) => (inner, status, true),
            None => {
                let (status_tx, status) = watch::channel(Status::Starting);
                (builtin(&name, config, status_tx, events), status, false)
            }
        };
        let up = Upstream {
            inner,
            guarded,
            metrics: Arc::new(CallMetrics::new(&name)),
            name,
            status,
            timeout: config.timeout.0,
            init_timeout: config.init_timeout.0,
            limit: config.max_concurrency.map(|max| {
                let max = max.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
                Arc::new(Limit {
                    permits: tokio::sync::Semaphore::new(max),
                    max,
                    wait: config.queue_wait().0,
                })
            }),
        };
        tokio::spawn(listen_for_changes(up.clone()));
        up
    }

    /// Calls in flight on this instance (those waiting for a `max_concurrency` turn
    /// included; `subscriptions/listen` excluded).
    pub fn in_flight(&self) -> usize {
        self.metrics
            .calls
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a [`BackendFactory`]'s backend serves this upstream (in this process), rather
    /// than a built-in transport.
    pub fn in_process(&self) -> bool {
        self.guarded
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
    /// [`CallError::Rpc`], unchanged. With `max_concurrency`, the call first waits for a turn
    /// (up to the queue timeout, then [`CallError::Busy`]); the call's own timeout starts once
    /// it has one. The gateway's long-lived `subscriptions/listen` takes no turn.
    pub async fn call(
        &self,
        method: &str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
    ) -> Result<Box<RawValue>, CallError> {
        if method == switchboard_protocol::methods::SUBSCRIPTIONS_LISTEN {
            // Long-lived by design: not a call to time.
            return self.call_inner(method, params, opts).await;
        }
        let m = &self.metrics;
        m.in_flight.increment(1.0);
        m.calls.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let _in_flight = InFlight(m);
        let started = std::time::Instant::now();
        let result = self.call_inner(method, params, opts).await;
        m.duration.record(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            m.error(e);
        }
        result
    }

    async fn call_inner(
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
        let info = match &*self.status.borrow() {
            Status::Ready(info) => Some(info.clone()),
            _ => None,
        };
        let (era, params) = match (opts.era, &info) {
            (Some(era), _) => (era, params),
            (None, Some(info)) if info.own_era() == Era::Modern => (
                Era::Modern,
                Some(switchboard_protocol::meta::set_meta(
                    params.as_deref(),
                    &init::own_meta(),
                )),
            ),
            (None, _) => (Era::Legacy, params),
        };
        if let Some(info) = &info
            && !info.speaks(era)
        {
            return Err(CallError::Failed {
                server: self.name.to_string(),
                reason: format!(
                    "the server does not speak the {} protocol era",
                    if era == Era::Modern {
                        "2026-07-28"
                    } else {
                        "session"
                    }
                ),
            });
        }
        let _turn = match &self.limit {
            Some(limit) if method != switchboard_protocol::methods::SUBSCRIPTIONS_LISTEN => {
                Some(limit.acquire(&self.name, &opts.cancel).await?)
            }
            _ => None,
        };
        if !self.guarded {
            return self.inner.call(method, params, opts, era, timeout).await;
        }
        let cancel = opts.cancel.clone();
        let call =
            tokio::time::timeout(timeout, self.inner.call(method, params, opts, era, timeout));
        tokio::select! {
            r = call => r.unwrap_or_else(|_| Err(CallError::Timeout {
                server: self.name.to_string(),
                after: timeout,
            })),
            _ = cancel.cancelled() => Err(CallError::Cancelled),
        }
    }

    /// What the server said about itself, when it is ready.
    pub fn info(&self) -> Option<Arc<InitInfo>> {
        match &*self.status.borrow() {
            Status::Ready(info) => Some(info.clone()),
            _ => None,
        }
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

/// The built-in transport for `config`.
fn builtin(
    name: &Arc<str>,
    config: &ServerConfig,
    status: watch::Sender<Status>,
    events: mpsc::UnboundedSender<UpstreamEvent>,
) -> Arc<dyn Backend> {
    match config.kind() {
        TransportKind::Stdio => match &config.pool {
            Some(pool) => pool::Pool::start(name.clone(), config.clone(), pool, status, events),
            None => supervisor::StdioUpstream::start(name.clone(), config.clone(), status, events),
        },
        TransportKind::Http => {
            http::HttpUpstream::start(name.clone(), config.clone(), status, events)
        }
        TransportKind::Sse => {
            legacy_sse::LegacySseUpstream::start(name.clone(), config.clone(), status, events)
        }
        TransportKind::HttpApi => Arc::new(backend::Down::new(
            name,
            "an HTTP API entry (`openapi`, `http_tools`) needs the gateway's HTTP API backend, \
             which this command does not run",
            status,
        )),
        TransportKind::Workflows => Arc::new(backend::Down::new(
            name,
            "workflows need the gateway's workflow backend, which this command does not run",
            status,
        )),
        TransportKind::ToolSearch => Arc::new(backend::Down::new(
            name,
            "tool search needs the gateway's search backend, which this command does not run",
            status,
        )),
        TransportKind::Routes => Arc::new(backend::Down::new(
            name,
            "routes need the gateway's route backend, which this command does not run",
            status,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_queued_call_gets_its_turn_or_is_refused_as_busy_or_is_cancelled() {
        let limit = Limit {
            permits: tokio::sync::Semaphore::new(1),
            max: 1,
            wait: Duration::from_millis(200),
        };
        let never = CancellationToken::new();
        let held = limit.acquire("s", &never).await.unwrap();

        // No turn within the queue timeout: busy, naming the server, the limit and the wait.
        let started = tokio::time::Instant::now();
        let e = limit.acquire("s", &never).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_millis(200));
        assert!(matches!(e, CallError::Busy { limit: 1, .. }), "{e:?}");
        let obj = e.to_error_object();
        assert_eq!(obj.code, switchboard_protocol::codes::UPSTREAM_BUSY);
        assert!(
            obj.message.contains("'s' is busy")
                && obj.message.contains("1 call already in flight")
                && obj.message.contains("200ms"),
            "{}",
            obj.message
        );
        assert!(!e.is_upstream_fault());

        // Cancelled while queued.
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            trigger.cancel();
        });
        assert!(matches!(
            limit.acquire("s", &cancel).await,
            Err(CallError::Cancelled)
        ));

        // A turn given back within the wait goes to the queued call.
        let (got, ()) = tokio::join!(limit.acquire("s", &never), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(held);
        });
        assert!(got.is_ok());
    }
}
