//! A Streamable HTTP upstream: one shared MCP session over a keep-alive connection pool. Each
//! call is its own POST; what the server sends on that POST's event stream belongs to that call
//! and goes to its relay. A GET stream, when the server offers one, carries list changes.

mod calls;
mod plain_http;
mod response;
mod session;

use response::read_response;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use calls::Calls;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use parking_lot::RwLock;
use plain_http::{Body, BoxError, Lean, from_reqwest};
use serde_json::value::RawValue;
use switchboard_config::ServerConfig;
use switchboard_protocol::version::{self, HEADER_PROTOCOL_VERSION, HEADER_SESSION_ID};
use switchboard_protocol::{Id, Message, Notification, methods, to_raw};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::init::InitInfo;
use crate::mux::rewrite_progress_token;
use crate::{Backend, CallError, CallOptions, Era, Relay, Status, UpstreamEvent};

pub(super) const MAX_EVENT: usize = 64 * 1024 * 1024;

/// When a server sent messages about a call on its GET stream, its result waits this long so
/// that messages sent just before the result (on the other stream) are relayed first.
const OUT_OF_BAND_SETTLE: Duration = Duration::from_millis(25);

struct Session {
    id: Option<HeaderValue>,
    version: HeaderValue,
    info: Arc<InitInfo>,
}

pub(crate) struct HttpUpstream {
    name: Arc<str>,
    cfg: ServerConfig,
    client: reqwest::Client,
    url: reqwest::Url,
    /// The same URL for calls (`lean` when it is plain http).
    uri: Uri,
    lean: Option<Arc<Lean>>,
    headers: HeaderMap,
    session: RwLock<Option<Arc<Session>>>,
    /// Set when the server speaks 2026-07-28: no session id, the modern version header.
    modern: RwLock<Option<Arc<Session>>>,
    status: watch::Sender<Status>,
    events: mpsc::UnboundedSender<UpstreamEvent>,
    next_id: AtomicI64,
    shutdown: CancellationToken,
    reconnect: tokio::sync::Notify,
    /// Calls in flight with a relay, to attribute messages that arrive on the GET stream.
    calls: Calls,
}

/// The configured `headers` as an HTTP header map, and the first one that is not a valid
/// header (left out), if any.
pub(crate) fn config_headers(cfg: &ServerConfig) -> (HeaderMap, Option<String>) {
    let mut headers = HeaderMap::new();
    let mut bad = None;
    for (k, v) in &cfg.headers {
        match (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            (Ok(k), Ok(v)) => {
                headers.insert(k, v);
            }
            _ => bad = bad.or_else(|| Some(k.clone())),
        }
    }
    (headers, bad)
}

/// Report the upstream down and wait `wait` before the next attempt; false if the gateway
/// shut down meanwhile.
pub(crate) async fn back_off(
    status: &watch::Sender<Status>,
    shutdown: &CancellationToken,
    reason: String,
    wait: Duration,
) -> bool {
    let _ = status.send(Status::Restarting {
        reason,
        retry_in: wait,
    });
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = shutdown.cancelled() => false,
    }
}

enum PostError {
    /// The server does not know this session (any more).
    SessionGone(Arc<Session>),
    Call(CallError),
}

impl HttpUpstream {
    pub(crate) fn start(
        name: Arc<str>,
        cfg: ServerConfig,
        status: watch::Sender<Status>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Arc<dyn Backend> {
        let url = cfg.url.as_deref().unwrap_or_default();
        let parsed = reqwest::Url::parse(url);
        let uri = parsed
            .as_ref()
            .ok()
            .and_then(|u| u.as_str().parse::<Uri>().ok())
            .unwrap_or_else(|| Uri::from_static("http://invalid.invalid/"));
        let lean = Lean::new(&uri);
        let (headers, bad_header) = config_headers(&cfg);
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let this = Arc::new(Self {
            name: name.clone(),
            client,
            url: parsed.clone().unwrap_or_else(|_| {
                reqwest::Url::parse("http://invalid.invalid/").unwrap_or_else(|_| unreachable_url())
            }),
            uri,
            lean,
            headers,
            session: RwLock::new(None),
            modern: RwLock::new(None),
            status,
            events,
            next_id: AtomicI64::new(1),
            shutdown: CancellationToken::new(),
            reconnect: tokio::sync::Notify::new(),
            calls: Calls::default(),
            cfg,
        });
        let fatal = match (&parsed, &bad_header) {
            (Err(e), _) => Some(format!("invalid url: {e}")),
            (_, Some(h)) => Some(format!("header `{h}` is not a valid HTTP header")),
            _ => None,
        };
        if let Some(reason) = fatal {
            tracing::error!(server = %name, %reason, "upstream cannot start");
            let _ = this.status.send(Status::CrashLoop {
                reason,
                restarts: 0,
            });
        } else {
            let run = this.clone();
            tokio::spawn(async move { run.maintain().await });
        }
        this
    }

    /// The same POST on reqwest, for what is sent in the background (notifications,
    /// cancellations, answers to the server's requests).
    fn post(&self, session: &Session, body: Vec<u8>) -> reqwest::RequestBuilder {
        let (parts, body) = self.post_request(session, body).into_parts();
        self.client
            .post(self.url.clone())
            .headers(parts.headers)
            .body(body)
    }

    /// A POST to the MCP endpoint in the session, as an `http` request (calls go through
    /// [`HttpUpstream::send`]).
    fn post_request(&self, session: &Session, body: Vec<u8>) -> http::Request<Bytes> {
        let mut req = http::Request::new(Bytes::from(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        let h = req.headers_mut();
        h.reserve(self.headers.len() + 8);
        for (k, v) in &self.headers {
            h.append(k.clone(), v.clone());
        }
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(HEADER_PROTOCOL_VERSION, session.version.clone());
        if let Some(id) = &session.id {
            h.insert(HEADER_SESSION_ID, id.clone());
        }
        req
    }

    /// Send a call's request: on the lean client for plain http, else through reqwest.
    async fn send(&self, req: http::Request<Bytes>) -> Result<http::Response<Body>, BoxError> {
        match &self.lean {
            Some(lean) => Ok(lean
                .send(req.map(http_body_util::Full::new))
                .await?
                .map(Body::Lean)),
            None => {
                let req = reqwest::Request::try_from(req.map(reqwest::Body::from))?;
                Ok(from_reqwest(Box::pin(self.client.execute(req)).await?))
            }
        }
    }

    async fn call_once(
        &self,
        method: &str,
        params: Option<&RawValue>,
        relay: Option<&Arc<dyn Relay>>,
        era: Era,
        param_headers: &[(String, String)],
        trace_headers: &[(&'static str, String)],
    ) -> Result<Box<RawValue>, PostError> {
        let slot = match era {
            Era::Legacy => &self.session,
            Era::Modern => &self.modern,
        };
        let session = slot.read().clone().ok_or_else(|| {
            PostError::Call(CallError::Unavailable {
                server: self.name.to_string(),
                reason: self.status.borrow().describe(),
            })
        })?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let ours = format!("sb-{id}");
        let (params, theirs) = match (relay, params) {
            (Some(_), Some(p)) => match rewrite_progress_token(p, &ours) {
                Some((rewritten, theirs)) => (Some(rewritten), Some(theirs)),
                None => (Some(p.to_owned()), None),
            },
            (_, p) => (p.map(RawValue::to_owned), None),
        };
        let name = match era {
            Era::Modern => params.as_deref().and_then(|p| request_name(method, p)),
            Era::Legacy => None,
        };
        let body = Message::request(Id::Num(id), method, params).to_vec();
        // Registered before sending: the server may log about the call on its GET stream
        // before the POST's response headers arrive.
        let registered = relay.map(|relay| self.calls.register(id, relay));
        // Armed before sending: a call abandoned while waiting for the response headers (a
        // JSON-mode server sends them with the result) is still cancelled upstream.
        // A modern request is cancelled by closing its stream, which dropping it does.
        let cancel_guard = CancelOnDrop {
            up: self,
            session: session.clone(),
            id,
            armed: era == Era::Legacy,
        };
        let mut post = self.post_request(&session, body);
        let h = post.headers_mut();
        for (name, value) in trace_headers {
            if let Ok(v) = HeaderValue::try_from(value.as_str()) {
                h.insert(*name, v);
            }
        }
        if era == Era::Modern {
            if let Ok(v) = HeaderValue::try_from(method) {
                h.insert(version::HEADER_METHOD, v);
            }
            if let Some(name) = name
                && let Ok(v) =
                    HeaderValue::try_from(switchboard_protocol::headers::encode_value(&name))
            {
                h.insert(version::HEADER_NAME, v);
            }
            for (name, value) in param_headers {
                match (
                    HeaderName::try_from(format!("Mcp-Param-{name}")),
                    HeaderValue::try_from(value.as_str()),
                ) {
                    (Ok(k), Ok(v)) => {
                        h.insert(k, v);
                    }
                    _ => {
                        tracing::debug!(server = %self.name, param = %name, "parameter header not sendable; left out")
                    }
                }
            }
        }
        let resp = match self.send(post).await {
            Ok(r) => r,
            Err(e) => {
                cancel_guard.disarm();
                return Err(PostError::Call(CallError::Unavailable {
                    server: self.name.to_string(),
                    reason: error_chain(&*e),
                }));
            }
        };
        if resp.status() == StatusCode::NOT_FOUND && session.id.is_some() {
            cancel_guard.disarm();
            return Err(PostError::SessionGone(session));
        }
        let progress = theirs.map(|t| (ours, t));

        let r = read_response(resp, id, relay, progress.as_ref(), self)
            .await
            .map_err(PostError::Call);
        cancel_guard.disarm();
        if self.calls.out_of_band(id) {
            tokio::time::sleep(OUT_OF_BAND_SETTLE).await;
        }
        drop(registered);
        r
    }

    fn send_cancel(&self, session: Arc<Session>, id: i64) {
        let body = Message::notification(
            methods::CANCELLED,
            Some(to_raw(
                &serde_json::json!({"requestId": id, "reason": "cancelled by switchboard"}),
            )),
        )
        .to_vec();
        let req = self.post(&session, body);
        tokio::spawn(async move {
            let _ = req.send().await;
        });
    }

    /// Reopen a call's event stream after the server closed it, with `Last-Event-ID`.
    async fn resume(&self, last_event_id: &str) -> Result<reqwest::Response, CallError> {
        let session = self
            .session
            .read()
            .clone()
            .ok_or_else(|| self.failed("session ended while resuming"))?;
        let mut req = self
            .client
            .get(self.url.clone())
            .headers(self.headers.clone())
            .header(header::ACCEPT, "text/event-stream")
            .header(HEADER_PROTOCOL_VERSION, session.version.clone())
            .header("last-event-id", last_event_id);
        if let Some(id) = &session.id {
            req = req.header(HEADER_SESSION_ID, id.clone());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.failed(format!("resuming the event stream: {}", error_chain(&e))))?;
        if !resp.status().is_success() {
            return Err(self.failed(format!(
                "resuming the event stream got HTTP {}",
                resp.status()
            )));
        }
        Ok(resp)
    }

    fn event(&self, notification: Notification) {
        let _ = self.events.send(UpstreamEvent::Notification {
            server: self.name.clone(),
            notification,
        });
    }

    fn failed(&self, reason: impl Into<String>) -> CallError {
        CallError::Failed {
            server: self.name.to_string(),
            reason: reason.into(),
        }
    }
}

/// Sends `notifications/cancelled` upstream if a call is abandoned (timeout, client cancel).
struct CancelOnDrop<'a> {
    up: &'a HttpUpstream,
    session: Arc<Session>,
    id: i64,
    armed: bool,
}

impl CancelOnDrop<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.up.send_cancel(self.session.clone(), self.id);
        }
    }
}

/// What `Mcp-Name` carries for a modern request: the tool or prompt name, the resource URI, or
/// the task id.
fn request_name(method: &str, params: &RawValue) -> Option<String> {
    let key = match method {
        methods::TOOLS_CALL | methods::PROMPTS_GET => "name",
        methods::RESOURCES_READ => "uri",
        m if m.starts_with("tasks/") => "taskId",
        _ => return None,
    };
    let map = switchboard_protocol::RawMap::parse(params).ok()?;
    map.get_str(key).map(|v| v.into_owned())
}

fn unreachable_url() -> reqwest::Url {
    // Only reached if parsing a constant URL fails, which it does not.
    reqwest::Url::parse("http://127.0.0.1/").unwrap_or_else(|_| unreachable_url())
}

pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

impl Backend for HttpUpstream {
    fn call<'a>(
        &'a self,
        method: &'a str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        era: Era,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
        Box::pin(async move {
            let once = || {
                self.call_once(
                    method,
                    params.as_deref(),
                    opts.relay.as_ref(),
                    era,
                    &opts.param_headers,
                    &opts.trace_headers,
                )
            };
            let work = async {
                match once().await {
                    Ok(r) => Ok(r),
                    Err(PostError::Call(e)) => Err(e),
                    Err(PostError::SessionGone(stale)) => {
                        // The server forgot our session: start a new one (once, however many
                        // calls noticed) and try once more.
                        {
                            let mut current = self.session.write();
                            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &stale)) {
                                tracing::info!(server = %self.name, "upstream session expired; re-initializing");
                                *current = None;
                                let _ = self.status.send(Status::Starting);
                                self.reconnect.notify_one();
                            }
                        }
                        let mut rx = self.status.subscribe();
                        let _ = tokio::time::timeout(
                            self.cfg.init_timeout.0,
                            rx.wait_for(|s| s.is_ready()),
                        )
                        .await;
                        // Boxed: rare, and inline it would double the call's future.
                        match Box::pin(once()).await {
                            Ok(r) => Ok(r),
                            Err(PostError::Call(e)) => Err(e),
                            Err(PostError::SessionGone(_)) => {
                                Err(self.failed("session expired twice"))
                            }
                        }
                    }
                }
            };
            tokio::select! {
                r = tokio::time::timeout(timeout, work) => r.unwrap_or_else(|_| Err(CallError::Timeout {
                    server: self.name.to_string(),
                    after: timeout,
                })),
                _ = opts.cancel.cancelled() => Err(CallError::Cancelled),
            }
        })
    }

    fn notify(&self, method: &str, params: Option<Box<RawValue>>) {
        let Some(session) = self.session.read().clone() else {
            return;
        };
        let req = self.post(&session, Message::notification(method, params).to_vec());
        tokio::spawn(async move {
            let _ = req.send().await;
        });
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.shutdown.cancel();
            let session = self.session.write().take();
            if let Some(Session {
                id: Some(id),
                version,
                ..
            }) = session.as_deref()
            {
                let req = self
                    .client
                    .delete(self.url.clone())
                    .headers(self.headers.clone())
                    .header(HEADER_SESSION_ID, id.clone())
                    .header(HEADER_PROTOCOL_VERSION, version.clone());
                let _ = tokio::time::timeout(Duration::from_secs(2), req.send()).await;
            }
            let _ = self.status.send(Status::Stopped);
        })
    }
}
