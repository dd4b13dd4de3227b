//! The 2024-11-05 HTTP+SSE client transport (`http.legacy_sse`), for clients that speak only
//! it: `GET /sse` opens an event stream whose first event (`endpoint`) says where to POST
//! messages (`/messages?sessionId=…`); every POST is accepted with 202 and its answer, like
//! everything else the gateway sends the client (progress, logs, sampling and elicitation
//! requests, list changes), arrives on that stream as a `message` event.
//!
//! Each stream is a session of its own, run through the same pipeline as Streamable HTTP
//! (authentication on the GET and on every POST, roles, limits, audit as `http+sse`). The
//! session lives as long as its stream: closing the stream ends it and its calls. The stream
//! is held by the replica that opened it, so behind a balancer the POSTs must reach the same
//! replica (sticky routing by `sessionId` or by client address).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use switchboard_protocol::{Message, parse_message};

use super::{App, Caller, Reject, admit_caller, open_session, sse_headers, standalone_events};
use crate::gateway::Gateway;
use crate::outbound::Outbound;
use crate::request::{Admission, Transport};
use crate::session::Session;

/// Messages queued for a client that reads slowly before new ones are dropped.
const QUEUE: usize = 256;

/// `GET {legacy_sse.path}`: open a session and its event stream.
pub(super) async fn open(State(app): State<App>, req: axum::extract::Request) -> Response {
    let (parts, _) = req.into_parts();
    let caller = match admit_caller(&app, &parts.headers, &parts.extensions, "GET").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let session = match open_session(&app, &caller.identity) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let (out, rx) = Outbound::channel(QUEUE);
    session.set_standalone(Some(out));
    tracing::debug!(session = %session.id, subject = %caller.identity.subject, "legacy SSE stream opened");
    let endpoint = format!(
        "event: endpoint\ndata: {}?sessionId={}\n\n",
        app.gw.config.http.legacy_sse.messages_path, session.id
    );
    let end = EndSession {
        gw: app.gw.clone(),
        session: session.clone(),
    };
    // Touched while idle: the session lives as long as its stream.
    let events = standalone_events(session, rx, end, true).into_data_stream();
    let first = futures_util::stream::once(async move { Ok(Bytes::from(endpoint)) });
    use futures_util::StreamExt;
    sse_headers(Body::from_stream(first.chain(events)))
}

/// Ends the session when its stream is dropped (the client went away, or the gateway
/// closed it).
struct EndSession {
    gw: Arc<Gateway>,
    session: Arc<Session>,
}

impl Drop for EndSession {
    fn drop(&mut self) {
        tracing::debug!(session = %self.session.id, "legacy SSE stream closed; session ended");
        self.gw.close_session(&self.session.id);
    }
}

/// `POST {legacy_sse.messages_path}?sessionId=…`: one client message for a stream's session.
pub(super) async fn message(State(app): State<App>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let caller = match admit_caller(&app, &parts.headers, &parts.extensions, "POST").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match post(&app, &parts.headers, parts.uri.query(), body, caller).await {
        Ok(r) | Err(r) => r,
    }
}

async fn post(
    app: &App,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
    caller: Caller,
) -> Result<Response, Response> {
    super::guard::check_content_type(headers).map_err(IntoResponse::into_response)?;
    let id = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("sessionId="))
        .ok_or_else(|| {
            Reject::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "sessionId is required in the query string: open a stream with GET {} and POST to the endpoint its first event names",
                    app.gw.config.http.legacy_sse.path
                ),
            )
            .into_response()
        })?;
    let not_found = || {
        Reject::new(
            StatusCode::NOT_FOUND,
            "Session not found: its event stream closed or never existed; open a new one",
        )
        .into_response()
    };
    let session = app.gw.sessions.get(id).ok_or_else(not_found)?;
    if !session.owned_by(&caller.identity.subject) {
        tracing::info!(session = %session.id, subject = %caller.identity.subject, "legacy SSE session used by another identity; refused");
        return Err(not_found());
    }
    let out = session.standalone().ok_or_else(not_found)?;
    let body = super::read_body(app, body)
        .await
        .map_err(IntoResponse::into_response)?;
    let msg = parse_message(&body).map_err(|f| {
        Reject {
            status: StatusCode::BAD_REQUEST,
            error: f.error,
            id: f.id,
        }
        .into_response()
    })?;
    session.touch();
    match msg {
        Message::Request(req) if req.method == switchboard_protocol::methods::INITIALIZE => {
            let result = app.gw.initialize(&session, req.params.as_deref());
            if result.is_err() {
                // The answer says why; the client opens a new stream to try again.
                tracing::info!(session = %session.id, "legacy SSE initialize refused");
            }
            if !out.send(&Message::response(req.id, result)).await {
                return Err(not_found());
            }
        }
        Message::Request(req) => {
            let trace = crate::trace::TraceContext::from_headers(headers);
            let admission = Admission {
                transport: Transport::LegacySse,
                session: Some(session.clone()),
                tracked_by: Some(session.clone()),
                out: Some(out.clone()),
                modern: None,
                identity: caller.identity,
                policies: caller.policies,
                client_ip: caller.client_ip,
                trace,
            };
            let (cancelled, run) = app.gw.admit(admission, req);
            tokio::spawn(async move {
                let resp = run.await;
                // A call the client cancelled gets no answer (MCP cancellation).
                if !cancelled.is_cancelled() {
                    out.finish(&resp).await;
                }
            });
        }
        Message::Notification(n) => app.gw.handle_notification(Some(&session), n),
        Message::Response(r) => app.gw.handle_response(&session, r),
    }
    Ok((StatusCode::ACCEPTED, "Accepted").into_response())
}
