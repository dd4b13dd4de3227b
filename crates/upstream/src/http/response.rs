//! Reading an HTTP upstream's answers: plain JSON or an event stream, with the messages that
//! arrive on it delivered to the call's relay, and streams the server closes early resumed.

use std::sync::Arc;
use std::time::Duration;

use http::header;
use http_body_util::BodyExt;
use serde_json::value::RawValue;
use switchboard_protocol::sse::SseParser;
use switchboard_protocol::{Id, Message, Notification, RawMap, methods};

use super::plain_http::{Body, from_reqwest};
use super::{HttpUpstream, MAX_EVENT, error_chain};
use crate::{CallError, Relay};

/// Read a POST's answer: plain JSON, or an event stream on which related messages arrive
/// before the response with id `id` (`-1`: a GET stream with no response to wait for).
pub(super) async fn read_response(
    resp: http::Response<Body>,
    id: i64,
    relay: Option<&Arc<dyn Relay>>,
    progress: Option<&(String, Box<RawValue>)>,
    up: &HttpUpstream,
) -> Result<Box<RawValue>, CallError> {
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !status.is_success() {
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        // A JSON-RPC error in an HTTP error body is still the server's answer.
        if let Ok(Message::Response(r)) = switchboard_protocol::parse_message(&body)
            && let Err(e) = r.result
        {
            return Err(CallError::Rpc(e));
        }
        return Err(up.failed(format!("HTTP {status}: {text}")));
    }
    if ctype.starts_with("application/json") {
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| up.failed(format!("reading response: {}", error_chain(&*e))))?
            .to_bytes();
        return match switchboard_protocol::parse_message(&body) {
            Ok(Message::Response(r)) => r.result.map_err(CallError::Rpc),
            Ok(_) => {
                Err(up.failed("server answered a request with something other than a response"))
            }
            Err(f) => Err(up.failed(format!("server sent invalid JSON-RPC: {}", f.error.message))),
        };
    }
    if !ctype.starts_with("text/event-stream") {
        return Err(up.failed(format!("unexpected content type `{ctype}`")));
    }
    let mut parser = SseParser::new(MAX_EVENT);
    let mut events = Vec::new();
    let mut body = resp.into_body();
    let mut resumes = 0u32;
    loop {
        while let Some(frame) = body.frame().await {
            let chunk = match frame.map(http_body::Frame::into_data) {
                Ok(Ok(c)) => c,
                Ok(Err(_trailers)) => continue,
                // A broken stream with an event id can be resumed like a closed one.
                Err(e) if parser.last_event_id().is_some() && id >= 0 => {
                    tracing::debug!(server = %up.name, error = %error_chain(&*e), "upstream event stream broke; resuming");
                    break;
                }
                Err(e) => {
                    return Err(up.failed(format!("event stream broke: {}", error_chain(&*e))));
                }
            };
            parser
                .feed(&chunk, &mut events)
                .map_err(|e| up.failed(e.to_string()))?;
            for ev in events.drain(..) {
                if ev.data.trim().is_empty() {
                    continue; // priming event
                }
                let msg = match switchboard_protocol::parse_message(ev.data.as_bytes()) {
                    Ok(m) => m,
                    Err(f) => {
                        tracing::warn!(server = %up.name, error = %f.error.message, "invalid message on upstream event stream; ignored");
                        continue;
                    }
                };
                match msg {
                    Message::Response(r) if r.id == Id::Num(id) => {
                        finish_body(body);
                        return r.result.map_err(CallError::Rpc);
                    }
                    Message::Response(r) => {
                        tracing::debug!(server = %up.name, id = %r.id, "unexpected response on event stream")
                    }
                    Message::Notification(n) => {
                        // Only the GET stream (id < 0) carries messages about other calls.
                        let attributed = if id < 0 && n.method == methods::MESSAGE {
                            up.calls.attribute(false)
                        } else {
                            None
                        };
                        deliver_notification(up, n, relay.or(attributed.as_ref()), progress)
                    }
                    Message::Request(r) => {
                        let attributed = if id < 0 {
                            up.calls.attribute(true)
                        } else {
                            None
                        };
                        answer_request(up, r, relay.or(attributed.as_ref()))
                    }
                }
            }
        }
        if id < 0 {
            return Err(up.failed("stream ended"));
        }
        // The server closed the stream before answering (SSE polling): resume it with
        // Last-Event-ID after the server's `retry` delay.
        let Some(last) = parser.last_event_id().map(str::to_owned) else {
            return Err(up.failed("event stream ended before the response"));
        };
        resumes += 1;
        if resumes > MAX_RESUMES {
            return Err(up.failed(format!(
                "event stream ended {MAX_RESUMES} times before the response"
            )));
        }
        let wait = Duration::from_millis(
            parser
                .retry_ms
                .unwrap_or(DEFAULT_RETRY_MS)
                .min(MAX_RETRY_MS),
        );
        tokio::time::sleep(wait).await;
        body = from_reqwest(up.resume(&last).await?).into_body();
    }
}

/// Read the rest of a call's event stream after its response, so that its keep-alive
/// connection can serve the next call: servers end the stream right after the response, and
/// its end is usually already here. Otherwise a task waits briefly for it; a stream still open
/// after that is dropped (its connection closes).
fn finish_body(mut body: Body) {
    use futures_util::FutureExt;
    for _ in 0..16 {
        match body.frame().now_or_never() {
            Some(Some(Ok(_))) => continue,
            Some(None | Some(Err(_))) => return,
            None => break,
        }
    }
    tokio::spawn(async move {
        let _ = tokio::time::timeout(FINISH_WAIT, async {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
    });
}

const FINISH_WAIT: Duration = Duration::from_secs(1);

/// How often one call's stream may be resumed, and the bounds on the server's `retry`.
const MAX_RESUMES: u32 = 20;
const DEFAULT_RETRY_MS: u64 = 500;
const MAX_RETRY_MS: u64 = 30_000;

fn deliver_notification(
    up: &HttpUpstream,
    n: Notification,
    relay: Option<&Arc<dyn Relay>>,
    progress: Option<&(String, Box<RawValue>)>,
) {
    match (n.method.as_str(), relay) {
        (methods::PROGRESS, Some(relay)) => {
            let Some((ours, theirs)) = progress else {
                return;
            };
            let Some(params) = &n.params else { return };
            let Ok(mut map) = RawMap::parse(params) else {
                return;
            };
            if map.get_str("progressToken").as_deref() != Some(ours.as_str()) {
                return;
            }
            map.set("progressToken", theirs.clone());
            let params = map.to_raw();
            relay.notify(Notification {
                method: n.method,
                params: Some(params),
            });
        }
        (methods::MESSAGE, Some(relay)) => relay.notify(n),
        (methods::PROGRESS, None) | (methods::CANCELLED, _) => {}
        _ => up.event(n),
    }
}

fn answer_request(
    up: &HttpUpstream,
    r: switchboard_protocol::Request,
    relay: Option<&Arc<dyn Relay>>,
) {
    let Some(session) = up.session.read().clone() else {
        return;
    };
    let reply = |result| Message::response(r.id.clone(), result).to_vec();
    if r.method == methods::PING {
        let req = up.post(&session, reply(Ok(switchboard_protocol::empty_object())));
        tokio::spawn(async move {
            let _ = req.send().await;
        });
        return;
    }
    let Some(relay) = relay.cloned() else {
        let err = switchboard_protocol::ErrorObject::new(
            switchboard_protocol::codes::INTERNAL_ERROR,
            format!(
                "switchboard cannot route `{}`: it was not sent during a client's call",
                r.method
            ),
        );
        let req = up.post(&session, reply(Err(err)));
        tokio::spawn(async move {
            let _ = req.send().await;
        });
        return;
    };
    let client = up.client.clone();
    let base = up.post(&session, Vec::new());
    tokio::spawn(async move {
        let result = relay.request(r.method, r.params).await;
        let body = Message::response(r.id, result).to_vec();
        if let Some(req) = base.try_clone() {
            let _ = req.body(body).send().await;
        }
        drop(client);
    });
}
