//! The stdio client transport: one client (e.g. Claude Desktop) on stdin/stdout, one session.
//! Requests are served concurrently; everything written to stdout is a JSON-RPC message (logs
//! go to stderr).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use switchboard_protocol::{ErrorObject, Message, parse_message};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, FramedRead};

use crate::gateway::Gateway;
use crate::outbound::{Out, Outbound};
use crate::request::{Admission, Transport};
use crate::session::Session;

/// Serve one client over `input`/`output` until `input` ends, then drain in-flight calls.
pub async fn serve<R, W>(gw: Arc<Gateway>, input: R, mut output: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let session = gw.sessions.create();
    let (out, mut rx) = Outbound::channel(1024);
    session.set_standalone(Some(out.clone()));
    let writer = tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            let (Out::Message(mut bytes) | Out::Final(mut bytes)) = item;
            bytes.push(b'\n');
            if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });

    let max = usize::try_from(gw.config.http.max_body_bytes).unwrap_or(usize::MAX);
    // Open `subscriptions/listen` streams, by the listen request's id.
    let mut listens = std::collections::HashMap::new();
    // Lines as bytes, so invalid UTF-8 is answered as a parse error instead of ending input.
    let codec = AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), Vec::new(), max);
    let mut lines = FramedRead::new(input, codec);
    while let Some(line) = lines.next().await {
        let line = match line {
            Ok(l) => l,
            Err(AnyDelimiterCodecError::MaxChunkLengthExceeded) => {
                let err = ErrorObject::invalid_request(format!("message larger than {max} bytes"));
                out.send(&Message::response(switchboard_protocol::Id::Null, Err(err)))
                    .await;
                continue;
            }
            Err(AnyDelimiterCodecError::Io(e)) => return Err(e),
        };
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let msg = match parse_message(line) {
            Ok(m) => m,
            Err(f) => {
                out.send(&Message::response(f.id, Err(f.error))).await;
                continue;
            }
        };
        session.touch();
        match msg {
            Message::Request(req) if req.method == switchboard_protocol::methods::INITIALIZE => {
                let result = gw.initialize(&session, req.params.as_deref());
                out.send(&Message::response(req.id, result)).await;
            }
            // A 2026-07-28 request on stdio: stateless, validated without headers, never
            // touching the session's capabilities or log level.
            Message::Request(req) if crate::era::is_modern(&req, None) => {
                let checked = crate::era::read_meta(&req).and_then(|meta| {
                    crate::era::check_version(&meta)?;
                    crate::era::check_method(&req.method)?;
                    Ok(meta)
                });
                let meta = match checked {
                    Ok(meta) => meta,
                    Err(e) => {
                        out.send(&Message::response(req.id, Err(e))).await;
                        continue;
                    }
                };
                // A listen stream on stdio lives until the client cancels it (or input ends).
                if req.method == switchboard_protocol::methods::SUBSCRIPTIONS_LISTEN {
                    let who = crate::listen::Listening {
                        owner: gw.policies().auth.stdio_identity().subject.clone(),
                        declares_tasks: crate::era::declares_extension(
                            &meta,
                            switchboard_protocol::methods::TASKS_EXTENSION,
                        ),
                    };
                    match gw.listen(&req, out.clone(), who).await {
                        Ok(guard) => {
                            listens.insert(req.id.clone(), guard);
                        }
                        Err(e) => {
                            out.send(&Message::response(req.id, Err(e))).await;
                        }
                    }
                    continue;
                }
                let (cancelled, run) =
                    gw.admit(admission(&gw, &session, &out, None, Some(meta)), req);
                spawn_answer(run, cancelled, session.clone(), out.clone());
            }
            Message::Request(req) => {
                let (cancelled, run) = gw.admit(
                    admission(&gw, &session, &out, Some(session.clone()), None),
                    req,
                );
                spawn_answer(run, cancelled, session.clone(), out.clone());
            }
            Message::Notification(n) if n.method == switchboard_protocol::methods::CANCELLED => {
                // Cancelling a listen ends it; anything else is a call in flight.
                let id = n
                    .params
                    .as_deref()
                    .and_then(|p| switchboard_protocol::RawMap::parse(p).ok())
                    .and_then(|m| {
                        m.get("requestId")
                            .and_then(|r| serde_json::from_str(r.get()).ok())
                    });
                if id.is_none_or(|id: switchboard_protocol::Id| listens.remove(&id).is_none()) {
                    gw.handle_notification(Some(&session), n);
                }
            }
            Message::Notification(n) => gw.handle_notification(Some(&session), n),
            Message::Response(r) => gw.handle_response(&session, r),
        }
    }
    // stdin closed: the client is gone. Its listens end; calls in flight finish, then stop.
    listens.clear();
    let grace = gw.config.http.shutdown_grace.0.min(Duration::from_secs(10));
    gw.drain(grace).await;
    gw.close_session(&session.id);
    drop(out);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    Ok(())
}

/// A stdio request as the pipeline sees it: the local user (`auth.stdio`), tracked in the
/// connection's session so `notifications/cancelled` reaches it; `session` is `None` for a
/// stateless 2026-07-28 request. stdio has no headers: a trace context comes in
/// `params._meta` only.
fn admission(
    gw: &Gateway,
    conn: &Arc<Session>,
    out: &Outbound,
    session: Option<Arc<Session>>,
    modern: Option<crate::era::ModernMeta>,
) -> Admission {
    let policies = gw.policies();
    Admission {
        transport: Transport::Stdio,
        session,
        tracked_by: Some(conn.clone()),
        out: Some(out.clone()),
        modern,
        identity: policies.auth.stdio_identity(),
        policies,
        client_ip: None,
        trace: None,
    }
}

/// Run an admitted request on its own task and write its answer, unless the client cancelled
/// it (MCP cancellation: no response) while the connection is still open.
fn spawn_answer(
    run: impl std::future::Future<Output = Message> + Send + 'static,
    cancelled: tokio_util::sync::CancellationToken,
    conn: Arc<Session>,
    out: Outbound,
) {
    tokio::spawn(async move {
        let resp = run.await;
        if !cancelled.is_cancelled() || conn.closed.is_cancelled() {
            out.finish(&resp).await;
        }
    });
}
