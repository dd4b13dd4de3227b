//! Stateless 2026-07-28 requests on the Streamable HTTP endpoint: the header rung of the
//! validation ladder, dispatch without a session, status codes by error, and answers as JSON
//! or as a plain event stream (no ids: a modern stream is not resumed; closing it cancels).

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use switchboard_protocol::version::{HEADER_METHOD, HEADER_NAME, HEADER_PROTOCOL_VERSION};
use switchboard_protocol::{
    ErrorObject, Id, Message, RawMap, Request, codes, headers, methods, sse,
};

use super::{App, sse_headers};
use crate::era::{self, ModernMeta};
use crate::outbound::{Out, Outbound};
use crate::request::{Admission, Transport};

fn error_response(id: Id, err: ErrorObject, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = Message::response(id, Err(err)).to_vec();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn mismatch(message: String) -> ErrorObject {
    ErrorObject::new(
        codes::HEADER_MISMATCH,
        format!("Header mismatch: {message}"),
    )
}

/// Exactly one value of a routing header, trimmed.
fn single(headers: &HeaderMap, name: &str) -> Result<Option<String>, ErrorObject> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(mismatch(format!("{name} appears more than once")));
    }
    let v = first
        .to_str()
        .map_err(|_| mismatch(format!("{name} is not visible ASCII")))?;
    Ok(Some(v.trim_matches(|c| c == ' ' || c == '\t').to_owned()))
}

/// Rung 2: `MCP-Protocol-Version`, `Mcp-Method` and (for named methods) `Mcp-Name` must be
/// present and agree with the body.
fn check_headers(headers: &HeaderMap, req: &Request, meta: &ModernMeta) -> Result<(), ErrorObject> {
    match single(headers, HEADER_PROTOCOL_VERSION)? {
        Some(v) if v == meta.version => {}
        Some(v) => {
            return Err(mismatch(format!(
                "MCP-Protocol-Version header '{v}' does not match _meta protocolVersion '{}'",
                meta.version
            )));
        }
        None => {
            return Err(mismatch(
                "the MCP-Protocol-Version header is required".into(),
            ));
        }
    }
    match single(headers, HEADER_METHOD)? {
        Some(m) if m == req.method => {}
        Some(m) => {
            return Err(mismatch(format!(
                "Mcp-Method '{m}' does not match the method '{}'",
                req.method
            )));
        }
        None => return Err(mismatch("the Mcp-Method header is required".into())),
    }
    let key = match req.method.as_str() {
        methods::TOOLS_CALL | methods::PROMPTS_GET => "name",
        methods::RESOURCES_READ => "uri",
        methods::TASKS_GET | methods::TASKS_UPDATE | methods::TASKS_CANCEL => "taskId",
        _ => return Ok(()),
    };
    let body_value = req
        .params
        .as_deref()
        .and_then(|p| RawMap::parse(p).ok())
        .and_then(|m| m.get_str(key).map(|v| v.into_owned()));
    let header = single(headers, HEADER_NAME)?
        .ok_or_else(|| mismatch("the Mcp-Name header is required".into()))?;
    let decoded = headers::decode_value(&header)
        .ok_or_else(|| mismatch("Mcp-Name is not valid base64".into()))?;
    match body_value {
        Some(v) if v == decoded => Ok(()),
        Some(v) => Err(mismatch(format!(
            "Mcp-Name '{decoded}' does not match params.{key} '{v}'"
        ))),
        // A missing name is the handler's to report (-32602).
        None => Ok(()),
    }
}

/// `Mcp-Param-*` headers of a `tools/call` must mirror the arguments its tool marks with
/// `x-mcp-header` (an unknown tool is the handler's to report).
fn check_params(app: &App, headers: &HeaderMap, req: &Request) -> Result<(), ErrorObject> {
    if req.method != methods::TOOLS_CALL {
        return Ok(());
    }
    let Some(params) = req.params.as_deref().and_then(|p| RawMap::parse(p).ok()) else {
        return Ok(());
    };
    let Some(marks) = params
        .get_str("name")
        .and_then(|n| app.gw.catalog.param_headers(&n))
    else {
        return Ok(());
    };
    let arguments: Option<serde_json::Value> = params
        .get("arguments")
        .and_then(|a| serde_json::from_str(a.get()).ok());
    for mark in marks.iter() {
        let header = single(
            headers,
            &format!("mcp-param-{}", mark.name.to_ascii_lowercase()),
        )?;
        let decoded =
            match header {
                Some(h) => Some(headers::decode_value(&h).ok_or_else(|| {
                    mismatch(format!("Mcp-Param-{} is not valid base64", mark.name))
                })?),
                None => None,
            };
        crate::param_headers::check(mark, arguments.as_ref(), decoded.as_deref())
            .map_err(mismatch)?;
    }
    Ok(())
}

/// Serve one modern request.
pub(super) async fn request(
    app: App,
    headers: HeaderMap,
    req: Request,
    caller: super::Caller,
) -> Response {
    let id = req.id.clone();
    let meta = match era::read_meta(&req) {
        Ok(m) => m,
        Err(e) => return error_response(id, e, 400),
    };
    if let Err(e) =
        check_headers(&headers, &req, &meta).and_then(|()| check_params(&app, &headers, &req))
    {
        return error_response(id, e, 400);
    }
    if let Err(e) = era::check_version(&meta) {
        return error_response(id, e, 400);
    }
    if let Err(e) = era::check_method(&req.method) {
        return error_response(id, e, 404);
    }
    if app.gw.shutting_down.is_cancelled() {
        return error_response(
            id,
            ErrorObject::new(codes::SHUTTING_DOWN, "switchboard is shutting down"),
            503,
        );
    }
    if req.method == methods::SUBSCRIPTIONS_LISTEN {
        let who = crate::listen::Listening {
            owner: caller.identity.subject.clone(),
            declares_tasks: era::declares_extension(&meta, methods::TASKS_EXTENSION),
        };
        return listen(app, req, who).await;
    }
    let (out, mut rx) = Outbound::channel(64);
    let admission = Admission {
        transport: Transport::Http,
        session: None,
        tracked_by: None,
        out: Some(out.clone()),
        modern: Some(meta),
        identity: caller.identity,
        policies: caller.policies,
        client_ip: caller.client_ip,
        trace: crate::trace::TraceContext::from_headers(&headers),
    };
    // Run in this handler while the answer can still be one JSON body (see `detach`).
    let (cancel, run) = app.gw.admit(admission, req);
    let mut call = super::detach::Detach::new(run);
    // For a modern request, the client closing its connection is the cancellation.
    let guard = cancel.drop_guard();
    let first = tokio::select! {
        biased;
        m = rx.recv() => m,
        resp = &mut call => {
            guard.disarm();
            return final_response(&resp);
        }
    };
    match first {
        // Only the call's own task finishes into the stream, so not before a message.
        Some(Out::Final(bytes)) => {
            guard.disarm();
            match switchboard_protocol::parse_message(&bytes) {
                Ok(resp) => final_response(&resp),
                Err(_) => error_response(
                    id,
                    ErrorObject::internal("the request ended without a readable response"),
                    500,
                ),
            }
        }
        Some(Out::Message(first)) => {
            // A message before the answer: the rest of the call streams from its own task.
            if let Some(rest) = call.take() {
                tokio::spawn(async move {
                    let resp = rest.await;
                    out.finish(&resp).await;
                });
            }
            let stream = futures_util::stream::unfold(
                (Some(first), rx, Some(guard), false),
                |(first, mut rx, guard, done)| async move {
                    if done {
                        return None;
                    }
                    let (bytes, last) = match first {
                        Some(b) => (b, false),
                        None => match rx.recv().await? {
                            Out::Message(b) => (b, false),
                            Out::Final(b) => (b, true),
                        },
                    };
                    let guard = if last {
                        guard.map(|g| g.disarm());
                        None
                    } else {
                        guard
                    };
                    let mut frame = Vec::with_capacity(bytes.len() + 24);
                    sse::encode_event(&bytes, None, &mut frame);
                    Some((
                        Ok::<_, Infallible>(Bytes::from(frame)),
                        (None, rx, guard, last),
                    ))
                },
            );
            sse_headers(Body::from_stream(stream))
        }
        None => error_response(
            id,
            ErrorObject::internal("the request ended without a response"),
            500,
        ),
    }
}

/// A JSON answer with the HTTP status its error maps to (and `Retry-After` when rate limited).
fn final_response(resp: &Message) -> Response {
    let status = match resp {
        Message::Response(r) => r
            .result
            .as_ref()
            .err()
            .map_or(200, |e| era::http_status(e, false)),
        _ => 200,
    };
    let bytes = resp.to_vec();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let retry = (status == StatusCode::TOO_MANY_REQUESTS)
        .then(|| super::retry_after(&bytes))
        .flatten();
    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response();
    if let Some(secs) = retry {
        r.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    r
}

/// A `subscriptions/listen` stream: the acknowledgement first, then matching notifications,
/// keep-alive comments while quiet; it ends when the client closes it (the listener is then
/// dropped) or, on shutdown, with the listen request's result.
async fn listen(app: App, req: Request, who: crate::listen::Listening) -> Response {
    const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(15);
    let (out, rx) = Outbound::channel(256);
    let guard = match app.gw.listen(&req, out, who).await {
        Ok(g) => g,
        Err(e) => return error_response(req.id, e, 400),
    };
    let stream = futures_util::stream::unfold((rx, Some(guard)), |(mut rx, guard)| async move {
        let guard = guard?;
        let item = tokio::select! {
            m = rx.recv() => m,
            _ = tokio::time::sleep(KEEPALIVE) => {
                return Some((Ok::<_, Infallible>(Bytes::from_static(b": keep-alive\n\n")), (rx, Some(guard))));
            }
        };
        let (bytes, last) = match item? {
            Out::Message(b) => (b, false),
            Out::Final(b) => (b, true),
        };
        let mut frame = Vec::with_capacity(bytes.len() + 24);
        sse::encode_event(&bytes, None, &mut frame);
        Some((Ok(Bytes::from(frame)), (rx, (!last).then_some(guard))))
    });
    let mut resp = sse_headers(Body::from_stream(stream));
    resp.headers_mut()
        .insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    resp
}
