//! The Streamable HTTP client transport at `http.path` (default `/mcp`): POST (JSON or SSE
//! answers), GET (the session's standalone stream), DELETE (end a session), with sessions,
//! version checks, DNS-rebinding protection and a body limit.

mod detach;
mod edge;
mod events;
mod guard;
mod legacy_sse;
mod modern;
mod replay;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use switchboard_config::ResponseMode;
use switchboard_protocol::version::HEADER_SESSION_ID;
use switchboard_protocol::{ErrorObject, Id, Message, codes, methods, parse_message, sse};
use tokio::net::TcpListener;

use edge::{admit_caller, read_body};
pub use events::Streams;
pub use guard::EdgePolicy;

use crate::gateway::Gateway;
use crate::outbound::{Out, Outbound};
use crate::request::{Admission, Transport};
use crate::session::Session;
use switchboard_policy::auth::Identity;

/// A refusal at the edge: an HTTP status with a JSON-RPC error body.
#[derive(Debug)]
pub struct Reject {
    status: StatusCode,
    error: ErrorObject,
    id: Id,
}

impl Reject {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::NOT_FOUND => codes::INVALID_REQUEST,
            StatusCode::PAYLOAD_TOO_LARGE => codes::INVALID_REQUEST,
            _ => codes::INVALID_REQUEST,
        };
        Self {
            status,
            error: ErrorObject::new(code, message),
            id: Id::Null,
        }
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        let body = Message::response(self.id, Err(self.error)).to_vec();
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

#[derive(Clone)]
pub(super) struct App {
    pub(super) gw: Arc<Gateway>,
    edge: Arc<EdgePolicy>,
    /// `http.max_body_bytes` (fixed at start).
    max_body: usize,
    /// Served on a view's path (`views:`): the callers' policies are seen through it.
    view: Option<Arc<switchboard_policy::Policy>>,
}

/// The HTTP router for the MCP endpoint, with `extra` routes merged in (the binary adds the
/// health probes there; the gateway does not serve them itself).
pub fn router(gw: Arc<Gateway>, listening_on_loopback: bool, extra: Router) -> Router {
    let cfg = &gw.config.http;
    let limit = usize::try_from(cfg.max_body_bytes).unwrap_or(usize::MAX);
    let app = App {
        edge: Arc::new(EdgePolicy::new(cfg, listening_on_loopback)),
        gw: gw.clone(),
        max_body: limit,
        view: None,
    };
    let mut router = Router::new().route(&cfg.path, any(mcp));
    if cfg.legacy_sse.enabled {
        router = router
            .route(&cfg.legacy_sse.path, axum::routing::get(legacy_sse::open))
            .route(
                &cfg.legacy_sse.messages_path,
                axum::routing::post(legacy_sse::message),
            );
    }
    if let Some(o) = gw.auth().oauth() {
        for path in o.metadata().1 {
            router = router.route(&path, axum::routing::get(resource_metadata));
        }
    }
    let mut router = router
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app.clone());
    // Each view: the same endpoint on its own path, every caller's role seen through it.
    for (name, view) in &gw.config.views {
        let policy = switchboard_policy::Policy::compile(
            &switchboard_config::RoleConfig {
                allow: view.allow(),
                deny: Vec::new(),
                rate_limit: None,
                tool_limits: Default::default(),
            },
            &gw.config.federation.separator,
        );
        tracing::debug!(view = %name, path = %view.path, "view served");
        let app = App {
            view: Some(Arc::new(policy)),
            ..app.clone()
        };
        router = router.merge(
            Router::new()
                .route(&view.path, any(mcp))
                .layer(DefaultBodyLimit::max(limit))
                .with_state(app),
        );
    }
    // Leaving the balancer (`http.shutdown_delay`): every answer closes its connection, so
    // no idle keep-alive connection is left for the balancer to send a call on as the
    // listener stops. Without a delay the layer is not there at all.
    let router = router.merge(extra);
    if cfg.shutdown_delay.0.is_zero() {
        return router;
    }
    let draining = gw.draining.clone();
    router.layer(axum::middleware::map_response(move |mut r: Response| {
        let leaving = draining.is_cancelled();
        async move {
            if leaving {
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            r
        }
    }))
}

/// Serve until `shutdown` resolves, then stop accepting, end standalone streams, and let
/// requests in flight finish within `http.shutdown_grace`.
pub async fn serve(
    gw: Arc<Gateway>,
    listener: TcpListener,
    extra: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let local = listener.local_addr()?;
    let app = router(gw.clone(), local.ip().is_loopback(), extra);
    let reaper = tokio::spawn(reap_sessions(gw.clone()));
    let grace = gw.config.http.shutdown_grace.0;
    let gw2 = gw.clone();
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; draining calls in flight");
        gw2.shutting_down.cancel();
        gw2.sessions.close_streams();
    });
    let handle = tokio::spawn(async move { server.await });
    // Wait for the server to stop; once shutdown began, bound the wait by the grace period.
    let mut handle = handle;
    tokio::select! {
        r = &mut handle => { reaper.abort(); return r.unwrap_or(Ok(())); }
        _ = gw.shutting_down.cancelled() => {}
    }
    let r = tokio::time::timeout(grace, &mut handle).await;
    reaper.abort();
    match r {
        Ok(r) => r.unwrap_or(Ok(())),
        Err(_) => {
            tracing::warn!("shutdown grace elapsed; closing remaining connections");
            handle.abort();
            Ok(())
        }
    }
}

async fn reap_sessions(gw: Arc<Gateway>) {
    let limit = gw.config.http.session_idle_timeout.0;
    let every = (limit / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        let n = gw.reap_idle_sessions(limit);
        if n > 0 {
            tracing::info!(closed = n, "closed idle sessions");
        }
        gw.limits().prune();
    }
}

/// The MCP endpoint. The request is taken apart by value (extractors would clone its
/// headers and extensions on every call).
async fn mcp(State(app): State<App>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let http::request::Parts {
        method,
        headers,
        extensions,
        ..
    } = parts;
    let caller = match admit_caller(&app, &headers, &extensions, method.as_str()).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match method {
        Method::POST => match read_body(&app, body).await {
            Ok(body) => post(app, headers, body, caller)
                .await
                .unwrap_or_else(IntoResponse::into_response),
            Err(r) => r.into_response(),
        },
        // Without a session, GET and DELETE have nothing to act on (2026-07-28 clients only POST).
        Method::GET | Method::DELETE if !headers.contains_key(HEADER_SESSION_ID) => {
            let mut r = Reject::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} needs an Mcp-Session-Id (a session from initialize); stateless clients only POST"),
            )
            .into_response();
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            r
        }
        Method::GET => get(app, headers, &caller.identity)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Method::DELETE => delete(app, headers, &caller.identity)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        _ => {
            let mut r = Reject::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not supported on the MCP endpoint; use POST, GET or DELETE"),
            )
            .into_response();
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            r
        }
    }
}

/// RFC 9728 protected-resource metadata.
async fn resource_metadata(State(app): State<App>) -> Response {
    match app.gw.auth().oauth() {
        Some(o) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "max-age=300"),
            ],
            o.metadata().0.to_vec(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A session, only for the identity that opened it: to anyone else it does not exist.
async fn session_of(
    app: &App,
    headers: &HeaderMap,
    identity: &Identity,
) -> Result<Arc<Session>, Reject> {
    let session = session_by_id(app, headers).await?;
    if !session.owned_by(&identity.subject) {
        tracing::info!(session = %session.id, subject = %identity.subject, "session used by another identity; refused");
        return Err(Reject::new(
            StatusCode::NOT_FOUND,
            "Session not found: it ended or never existed; initialize a new one",
        ));
    }
    app.gw.keep_session_shared(&session);
    Ok(session)
}

/// The session the request names: one of this replica's, or (`cluster:`) one another
/// replica opened, continued here.
async fn session_by_id(app: &App, headers: &HeaderMap) -> Result<Arc<Session>, Reject> {
    let id = headers
        .get(HEADER_SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Reject::new(
                StatusCode::BAD_REQUEST,
                "Mcp-Session-Id header is required; send initialize first to get one",
            )
        })?;
    if let Some(s) = app.gw.sessions.get(id) {
        return Ok(s);
    }
    app.gw.adopt_session(id).await.ok_or_else(|| {
        Reject::new(
            StatusCode::NOT_FOUND,
            "Session not found: it ended or never existed; initialize a new one",
        )
    })
}

/// Who sent a request, and the policies it is judged by (read once, at the edge).
pub(super) struct Caller {
    pub identity: Arc<Identity>,
    pub policies: Arc<crate::policies::Policies>,
    pub client_ip: Option<std::net::IpAddr>,
}

async fn post(
    app: App,
    headers: HeaderMap,
    body: Bytes,
    caller: Caller,
) -> Result<Response, Reject> {
    guard::check_content_type(&headers)?;
    let accepts = guard::accepts(&headers);
    if !accepts.json && !accepts.sse {
        return Err(Reject::new(
            StatusCode::NOT_ACCEPTABLE,
            "Accept must include application/json and text/event-stream",
        ));
    }
    let msg = parse_message(&body).map_err(|f| Reject {
        status: StatusCode::BAD_REQUEST,
        error: f.error,
        id: f.id,
    })?;
    // The era is told by the message: a stateless 2026-07-28 request never touches sessions.
    let raw_version = headers
        .get(switchboard_protocol::version::HEADER_PROTOCOL_VERSION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    // Inside a session, only the body can make a request modern: a legacy client sending a
    // wrong version header gets the legacy answer that names the header.
    let header_signal = raw_version.filter(|_| !headers.contains_key(HEADER_SESSION_ID));
    let msg = match msg {
        Message::Request(req) if crate::era::is_modern(&req, header_signal) => {
            return Ok(modern::request(app, headers, req, caller).await);
        }
        // 2026-07-28 defines no client notifications over HTTP: accepted and ignored.
        Message::Notification(_) | Message::Response(_)
            if raw_version.is_some_and(switchboard_protocol::version::is_modern)
                && !headers.contains_key(HEADER_SESSION_ID) =>
        {
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        other => other,
    };
    let header_version = guard::protocol_version(&headers)?;
    if let Message::Request(req) = &msg
        && req.method == methods::INITIALIZE
    {
        return Ok(initialize(
            &app,
            req.id.clone(),
            req.params.as_deref(),
            &caller.identity,
        )
        .await);
    }
    let session = session_of(&app, &headers, &caller.identity).await?;
    if let Some(v) = header_version {
        let negotiated = session.protocol_version.read();
        if !negotiated.is_empty() && v != *negotiated {
            return Err(Reject::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "MCP-Protocol-Version {v:?} does not match the version negotiated for this session ({})",
                    *negotiated
                ),
            ));
        }
    }
    session.touch();
    match msg {
        Message::Request(req) => {
            let trace = crate::trace::TraceContext::from_headers(&headers);
            Ok(run(app, session, req, accepts, caller, trace).await)
        }
        Message::Notification(n) => {
            app.gw.handle_notification(Some(&session), n);
            Ok(StatusCode::ACCEPTED.into_response())
        }
        Message::Response(r) => {
            app.gw.handle_response(&session, r);
            Ok(StatusCode::ACCEPTED.into_response())
        }
    }
}

/// A new session for `identity`, unless the gateway is at `http.max_sessions` or shutting
/// down (503 then).
pub(super) fn open_session(app: &App, identity: &Identity) -> Result<Arc<Session>, Reject> {
    if app.gw.sessions.len() >= app.gw.config.http.max_sessions {
        return Err(Reject::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many sessions (http.max_sessions); try again later",
        ));
    }
    if app.gw.shutting_down.is_cancelled() {
        return Err(Reject::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "switchboard is shutting down",
        ));
    }
    let session = app.gw.sessions.create();
    session.set_owner(&identity.subject);
    Ok(session)
}

async fn initialize(
    app: &App,
    id: Id,
    params: Option<&serde_json::value::RawValue>,
    identity: &Identity,
) -> Response {
    let session = match open_session(app, identity) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    match app.gw.initialize(&session, params) {
        Ok(result) => {
            // Shared before the answer leaves: the client's next request may land on another
            // replica.
            app.gw.share_session(&session).await;
            let body = Message::response(id, Ok(result)).to_vec();
            let mut resp = json_response(body);
            if let Ok(v) = HeaderValue::from_str(&session.id) {
                resp.headers_mut().insert(HEADER_SESSION_ID, v);
            }
            resp
        }
        Err(e) => {
            app.gw.close_session(&session.id);
            json_response(Message::response(id, Err(e)).to_vec())
        }
    }
}

/// A plain JSON answer; a rate-limited call's is a 429 with `Retry-After`.
fn final_response(body: Vec<u8>) -> Response {
    match retry_after(&body) {
        Some(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (header::RETRY_AFTER, secs.to_string()),
            ],
            body,
        )
            .into_response(),
        None => json_response(body),
    }
}

/// Seconds to wait, if `body` is a rate-limit error (checked cheaply before parsing).
pub(super) fn retry_after(body: &[u8]) -> Option<u64> {
    const CODE: &[u8] = b"-32007";
    if !body.windows(CODE.len()).any(|w| w == CODE) {
        return None;
    }
    let Ok(Message::Response(r)) = parse_message(body) else {
        return None;
    };
    let e = r.result.err().filter(|e| e.code == codes::RATE_LIMITED)?;
    let ms = e
        .data
        .and_then(|d| serde_json::from_str::<serde_json::Value>(d.get()).ok())
        .and_then(|d| d.get("retryAfterMs").and_then(serde_json::Value::as_u64))
        .unwrap_or(1000);
    Some(ms.div_ceil(1000).max(1))
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn run(
    app: App,
    session: Arc<Session>,
    req: switchboard_protocol::Request,
    accepts: guard::Accepts,
    caller: Caller,
    trace: Option<crate::trace::TraceContext>,
) -> Response {
    let mode = match (app.gw.config.http.response_mode, accepts.json, accepts.sse) {
        (_, true, false) => ResponseMode::Json,
        (_, false, true) => ResponseMode::Sse,
        (m, _, _) => m,
    };
    let (out, mut rx) = Outbound::channel(64);
    let admission = Admission {
        transport: Transport::Http,
        session: Some(session.clone()),
        tracked_by: Some(session.clone()),
        // In JSON mode this request has no stream; related messages use the GET stream.
        out: (mode != ResponseMode::Json).then(|| out.clone()),
        modern: None,
        identity: caller.identity,
        policies: caller.policies,
        client_ip: caller.client_ip,
        trace,
    };
    // Run in this handler while the answer can still be one JSON body; moved to a task of its
    // own when it becomes a stream or the client goes away (see `detach`).
    let (_, run) = app.gw.admit(admission, req);
    let mut call = detach::Detach::new(run);
    let first = match mode {
        ResponseMode::Sse => None,
        // No stream to send anything else on: the answer is all there is.
        ResponseMode::Json => return final_response((&mut call).await.to_vec()),
        // A message before the answer turns the response into a stream.
        ResponseMode::Auto => tokio::select! {
            biased;
            m = rx.recv() => match m {
                Some(Out::Message(bytes)) => Some(bytes),
                Some(Out::Final(bytes)) => return final_response(bytes),
                None => {
                    return Reject::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the request ended without a response",
                    )
                    .into_response();
                }
            },
            resp = &mut call => return final_response(resp.to_vec()),
        },
    };
    if let Some(rest) = call.take() {
        tokio::spawn(async move {
            let resp = rest.await;
            out.finish(&resp).await;
        });
    }
    // A resumable stream: a priming event (id + retry), then every event with an id.
    let log = streams_of(&session).start(first, rx, app.gw.replica_id());
    sse_headers(log.body(1, true))
}

/// The session's resumable answer streams (the HTTP edge's state for it).
fn streams_of(session: &Session) -> Arc<Streams> {
    // Only this transport sets the session's state, so the type always matches.
    session.transport_state::<Streams>().unwrap_or_default()
}

pub(super) fn sse_headers(body: Body) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

pub(super) const KEEPALIVE: Duration = Duration::from_secs(15);

async fn get(app: App, headers: HeaderMap, identity: &Identity) -> Result<Response, Reject> {
    if !guard::accepts(&headers).sse {
        return Err(Reject::new(
            StatusCode::NOT_ACCEPTABLE,
            "GET opens an event stream; Accept must include text/event-stream",
        ));
    }
    guard::protocol_version(&headers)?;
    let session = session_of(&app, &headers, identity).await?;
    // Resuming a response stream the client lost, kept here or by another replica.
    if let Some(last) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        match replay::resume(&app.gw, &session, last) {
            events::Resume::Here(log, from) => {
                session.touch();
                return Ok(sse_headers(log.body(from, false)));
            }
            events::Resume::Elsewhere {
                replica,
                stream,
                from,
            } => {
                session.touch();
                return app
                    .gw
                    .replay_elsewhere(&replica, &session, stream, from)
                    .await;
            }
            events::Resume::Unknown => {}
        }
    }
    if app.gw.shutting_down.is_cancelled() {
        return Err(Reject::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "switchboard is shutting down",
        ));
    }
    let (out, rx) = Outbound::channel(256);
    // A new GET stream replaces an older one.
    app.gw.hold_stream(&session, out.clone());
    session.set_standalone(Some(out));
    session.touch();
    Ok(sse_headers(standalone_events(session, rx, (), false)))
}

/// A session's standalone stream as SSE: each message an event, a keep-alive comment when
/// nothing came for a while (touching the session too if `touch_when_idle`), ended when the
/// session closes or nothing can send any more. `guard` lives as long as the stream.
pub(super) fn standalone_events<G: Send + 'static>(
    session: Arc<Session>,
    rx: tokio::sync::mpsc::Receiver<Out>,
    guard: G,
    touch_when_idle: bool,
) -> Body {
    let stream = futures_util::stream::unfold(
        (rx, session, guard),
        move |(mut rx, session, guard)| async move {
            let item = tokio::select! {
                m = rx.recv() => m,
                _ = tokio::time::sleep(KEEPALIVE) => {
                    if touch_when_idle {
                        session.touch();
                    }
                    return Some((Ok::<_, Infallible>(Bytes::from_static(b": keep-alive\n\n")), (rx, session, guard)));
                }
                _ = session.closed.cancelled() => None,
            }?;
            let (Out::Message(bytes) | Out::Final(bytes)) = item;
            let mut frame = Vec::with_capacity(bytes.len() + 32);
            sse::encode_event(&bytes, None, &mut frame);
            Some((Ok(Bytes::from(frame)), (rx, session, guard)))
        },
    );
    Body::from_stream(stream)
}

async fn delete(app: App, headers: HeaderMap, identity: &Identity) -> Result<Response, Reject> {
    let session = session_of(&app, &headers, identity).await?;
    app.gw.close_session(&session.id);
    app.gw.unshare_session(&session.id).await;
    tracing::debug!(session = %session.id, "session ended by the client");
    Ok(StatusCode::NO_CONTENT.into_response())
}
