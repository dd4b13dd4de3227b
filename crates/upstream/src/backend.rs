//! The backend seam: what serves one catalogue entry behind an [`Upstream`](crate::Upstream).
//!
//! The built-in transports (stdio processes and pools, Streamable HTTP, legacy HTTP+SSE) are
//! [`Backend`]s. Other kinds — a server run inside the gateway's own process, HTTP/OpenAPI
//! tools, workflows — implement [`Backend`] too and are offered to the gateway through a
//! [`BackendFactory`] in its [`Backends`]: a factory recognises the config entries it serves
//! and builds their backends; every other entry falls back to the built-in transports.
//! `Upstream` wraps whatever backend it gets in the same metrics, `max_concurrency`, timeout,
//! cancellation and status waiting, so the request pipeline never needs to know which it is.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;
use switchboard_config::ServerConfig;
use tokio::sync::{mpsc, watch};

use crate::{CallError, CallOptions, Era, Status, UpstreamEvent};

/// What serves one configured server: answers the gateway's requests and reports its status.
///
/// A backend is built with the `watch::Sender<Status>` its [`Upstream`](crate::Upstream)
/// reads and the sender of the gateway's [`UpstreamEvent`]s; it owns both.
///
/// - **Status.** It starts as [`Status::Starting`]. Calls wait (up to the server's
///   `init_timeout`) while it is `Starting` or `Restarting`, fail at once while it is down in
///   any other way, and are sent only in an era its [`Status::Ready`] [`InitInfo`](crate::InitInfo)
///   speaks. A backend that is ready at once sends `Status::Ready(InitInfo { … })` (e.g.
///   [`InitInfo::in_process`](crate::InitInfo::in_process)) before `build` returns, and
///   [`UpstreamEvent::Ready`] (harmless at start: the gateway lists a server that is ready
///   when it starts). List changes are sent as [`UpstreamEvent::Notification`]s (e.g.
///   `notifications/tools/list_changed`). A modern-only `InitInfo` that announces
///   `listChanged` gets a long-lived `subscriptions/listen` call instead (a session-era one
///   never does).
/// - **Stopping.** [`Backend::shutdown`] releases what the backend holds and ends with
///   [`Status::Stopped`]: the upstream's background task waits for that to end.
pub trait Backend: Send + Sync {
    /// Answer one request. `method` is any MCP method the gateway forwards: at least
    /// `tools/list` and `tools/call`, also `ping`, `prompts/*`, `resources/*`,
    /// `completion/complete`, `logging/setLevel`, `server/discover`, … A method the backend
    /// does not serve is answered with [`CallError::Rpc`] carrying a `-32601` (method not
    /// found) error object; a JSON-RPC error answer in general is `CallError::Rpc`, passed to
    /// the client unchanged. `params` are the request's params as the client sent them (names
    /// already mapped back to the server's own); the result is the JSON-RPC `result`.
    ///
    /// `era` is the era the request is in (one the backend's `InitInfo` speaks); `timeout` is
    /// the call's deadline. For a backend built by a [`BackendFactory`], the upstream enforces
    /// `timeout` and `opts.cancel` itself (the future is dropped, the caller gets
    /// [`CallError::Timeout`] or [`CallError::Cancelled`]); a backend that must tell someone
    /// else about it watches `opts.cancel` or acts when dropped. Messages about the call
    /// (progress, logs, requests to the client) go to `opts.relay` when it is set.
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        era: Era,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>>;

    /// A notification from the gateway (`notifications/cancelled`,
    /// `notifications/roots/list_changed`, …); ignore the ones that mean nothing to it.
    fn notify(&self, method: &str, params: Option<Box<RawValue>>);

    /// Stop: release what the backend holds, fail or finish its calls in flight, and set
    /// [`Status::Stopped`].
    fn shutdown(&self) -> BoxFuture<'_, ()>;
}

/// Builds the backends of the config entries it recognises.
pub trait BackendFactory: Send + Sync {
    /// The backend for server `name` configured as `config`, or `None` when the entry is not
    /// this factory's (the next factory is asked, then the built-in transports serve it).
    /// `status` and `events` belong to the backend it returns (see [`Backend`]); when it
    /// returns `None` they are dropped unused.
    fn build(
        &self,
        name: &Arc<str>,
        config: &ServerConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Option<Arc<dyn Backend>>;
}

/// The factories a gateway was started with, asked in order. Cheap to clone; empty by default
/// (only the built-in transports).
#[derive(Clone)]
pub struct Backends(Arc<[Arc<dyn BackendFactory>]>);

impl Backends {
    /// No factories: every entry is served by a built-in transport.
    pub fn none() -> Self {
        Self(Arc::new([]))
    }

    pub fn new(factories: impl IntoIterator<Item = Arc<dyn BackendFactory>>) -> Self {
        Self(factories.into_iter().collect())
    }

    /// These factories and then `factory`.
    pub fn with(self, factory: impl BackendFactory + 'static) -> Self {
        let last: Arc<dyn BackendFactory> = Arc::new(factory);
        Self::new(self.0.iter().cloned().chain([last]))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The first factory's backend for this entry, with the status it reports.
    pub(crate) fn build(
        &self,
        name: &Arc<str>,
        config: &ServerConfig,
        events: &mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Option<(Arc<dyn Backend>, watch::Receiver<Status>)> {
        self.0.iter().find_map(|f| {
            let (tx, rx) = watch::channel(Status::Starting);
            f.build(name, config, tx, events.clone()).map(|b| (b, rx))
        })
    }
}

impl Default for Backends {
    fn default() -> Self {
        Self::none()
    }
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backends({} factories)", self.0.len())
    }
}

/// A backend that cannot serve its entry (its config is unusable, or no factory of this
/// process serves its kind): its status is down with the reason, and every call fails as
/// unavailable, naming it. A factory returns one to report a problem instead of panicking or
/// leaving the entry out silently.
pub struct Down {
    name: Arc<str>,
    reason: String,
    status: watch::Sender<Status>,
}

impl Down {
    pub fn new(name: &Arc<str>, reason: impl Into<String>, status: watch::Sender<Status>) -> Self {
        let reason = reason.into();
        tracing::error!(server = %name, %reason, "server cannot be served");
        status.send_replace(Status::CrashLoop {
            reason: reason.clone(),
            restarts: 0,
        });
        Self {
            name: name.clone(),
            reason,
            status,
        }
    }
}

impl Backend for Down {
    fn call<'a>(
        &'a self,
        _method: &'a str,
        _params: Option<Box<RawValue>>,
        _opts: CallOptions,
        _era: Era,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
        Box::pin(async move {
            Err(CallError::Unavailable {
                server: self.name.to_string(),
                reason: self.reason.clone(),
            })
        })
    }

    fn notify(&self, _method: &str, _params: Option<Box<RawValue>>) {}

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        self.status.send_replace(Status::Stopped);
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::{Value, json};
    use switchboard_config::Dur;
    use switchboard_protocol::{ErrorObject, to_raw};

    use super::*;
    use crate::{InitInfo, Upstream};

    /// A tiny in-process server: `tools/list`; `tools/call` of `sleep` (for `ms`
    /// milliseconds); `-32601` for anything else. Counts the calls it runs at once.
    struct Sleeper {
        now: AtomicUsize,
        peak: AtomicUsize,
        status: watch::Sender<Status>,
    }

    impl Backend for Sleeper {
        fn call<'a>(
            &'a self,
            method: &'a str,
            params: Option<Box<RawValue>>,
            _opts: CallOptions,
            _era: Era,
            _timeout: Duration,
        ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
            Box::pin(async move {
                match method {
                    "tools/list" => Ok(to_raw(&json!({"tools": [{"name": "sleep"}]}))),
                    "tools/call" => {
                        let p: Value = serde_json::from_str(params.unwrap().get()).unwrap();
                        let ms = p["arguments"]["ms"].as_u64().unwrap();
                        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
                        self.peak.fetch_max(n, Ordering::SeqCst);
                        // Counted down even when the upstream drops the call.
                        let _running = Running(&self.now);
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        Ok(to_raw(&json!({"content": [], "slept": ms})))
                    }
                    other => Err(CallError::Rpc(ErrorObject::method_not_found(other))),
                }
            })
        }

        fn notify(&self, _method: &str, _params: Option<Box<RawValue>>) {}

        fn shutdown(&self) -> BoxFuture<'_, ()> {
            Box::pin(async move {
                self.status.send_replace(Status::Stopped);
            })
        }
    }

    struct Running<'a>(&'a AtomicUsize);

    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Serves the server named `mine` only; keeps its last backend for the test to look at.
    #[derive(Default)]
    struct Factory {
        asked: AtomicUsize,
        built: parking_lot::Mutex<Option<Arc<Sleeper>>>,
    }

    struct Shared(Arc<Factory>);

    impl BackendFactory for Shared {
        fn build(
            &self,
            name: &Arc<str>,
            _config: &ServerConfig,
            status: watch::Sender<Status>,
            _events: mpsc::UnboundedSender<UpstreamEvent>,
        ) -> Option<Arc<dyn Backend>> {
            self.0.asked.fetch_add(1, Ordering::SeqCst);
            if &**name != "mine" {
                return None;
            }
            let info = InitInfo::in_process("sleeper", "1", json!({"tools": {}}), None);
            status.send_replace(Status::Ready(Arc::new(info)));
            let b = Arc::new(Sleeper {
                now: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                status,
            });
            *self.0.built.lock() = Some(b.clone());
            Some(b)
        }
    }

    fn sleep(ms: u64) -> Option<Box<RawValue>> {
        Some(to_raw(&json!({"name": "sleep", "arguments": {"ms": ms}})))
    }

    fn config(max_concurrency: usize, queue: u64, timeout: u64) -> ServerConfig {
        let mut c = ServerConfig::stdio("/nonexistent/never-started", vec![]);
        c.max_concurrency = Some(max_concurrency);
        c.queue_timeout = Some(Dur::millis(queue));
        c.timeout = Dur::millis(timeout);
        c
    }

    #[tokio::test(start_paused = true)]
    async fn a_factory_backend_serves_calls_within_the_upstream_limits() {
        let factory = Arc::new(Factory::default());
        let backends = Backends::none().with(Shared(factory.clone()));
        let (tx, _rx) = mpsc::unbounded_channel();
        let up = Upstream::start_with("mine", &config(1, 1_000, 500), tx, &backends);
        let sleeper = factory.built.lock().clone().expect("the factory built it");
        assert!(up.status().is_ready(), "{}", up.status().describe());
        assert_eq!(up.info().unwrap().server_name, "sleeper");

        // Calls go through the custom backend; its JSON-RPC errors come back unchanged.
        let r = up
            .call("tools/list", None, CallOptions::default())
            .await
            .unwrap();
        assert_eq!(r.get(), r#"{"tools":[{"name":"sleep"}]}"#);
        let e = up
            .call("prompts/list", None, CallOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(&e, CallError::Rpc(o) if o.code == -32601), "{e:?}");

        // max_concurrency 1: two calls run one after the other, never together.
        let started = tokio::time::Instant::now();
        let (a, b) = tokio::join!(
            up.call("tools/call", sleep(100), CallOptions::default()),
            up.call("tools/call", sleep(100), CallOptions::default()),
        );
        assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
        assert_eq!(started.elapsed(), Duration::from_millis(200));
        assert_eq!(sleeper.peak.load(Ordering::SeqCst), 1);

        // The server's timeout applies: the call is dropped and the caller told.
        let started = tokio::time::Instant::now();
        let e = up
            .call("tools/call", sleep(10_000), CallOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CallError::Timeout { server, after } if server == "mine" && *after == Duration::from_millis(500)),
            "{e:?}"
        );
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        assert_eq!(
            sleeper.now.load(Ordering::SeqCst),
            0,
            "the call was dropped"
        );
        assert_eq!(up.in_flight(), 0);

        // ... and so do a call's own timeout and the caller's cancellation.
        let opts = CallOptions {
            timeout: Some(Duration::from_millis(50)),
            ..CallOptions::default()
        };
        let e = up.call("tools/call", sleep(100), opts).await.unwrap_err();
        assert!(matches!(e, CallError::Timeout { .. }), "{e:?}");
        let cancel = tokio_util::sync::CancellationToken::new();
        let opts = CallOptions {
            cancel: cancel.clone(),
            ..CallOptions::default()
        };
        let (r, ()) = tokio::join!(up.call("tools/call", sleep(300), opts), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            cancel.cancel();
        });
        assert!(matches!(r, Err(CallError::Cancelled)), "{r:?}");
        assert_eq!(sleeper.now.load(Ordering::SeqCst), 0);

        // No turn within queue_timeout: busy, as for any upstream.
        let busy = Upstream::start_with(
            "mine",
            &config(1, 50, 5_000),
            mpsc::unbounded_channel().0,
            &backends,
        );
        let (a, b) = tokio::join!(
            busy.call("tools/call", sleep(200), CallOptions::default()),
            async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                busy.call("tools/call", sleep(1), CallOptions::default())
                    .await
            },
        );
        assert!(a.is_ok(), "{a:?}");
        assert!(matches!(b, Err(CallError::Busy { limit: 1, .. })), "{b:?}");

        up.shutdown().await;
        assert!(matches!(up.status(), Status::Stopped));
    }

    #[tokio::test]
    async fn an_entry_no_factory_claims_gets_the_builtin_transport() {
        let factory = Arc::new(Factory::default());
        let backends =
            Backends::new([Arc::new(Shared(factory.clone())) as Arc<dyn BackendFactory>]);
        let up = Upstream::start_with(
            "theirs",
            &config(1, 50, 1_000),
            mpsc::unbounded_channel().0,
            &backends,
        );
        assert_eq!(factory.asked.load(Ordering::SeqCst), 1);
        assert!(factory.built.lock().is_none());
        // The stdio supervisor tried to start the (missing) program.
        let status = up.wait_settled(Duration::from_secs(10)).await;
        assert!(!status.is_ready(), "{}", status.describe());
        assert!(
            status.describe().contains("never-started"),
            "{}",
            status.describe()
        );
        up.shutdown().await;
    }
}
