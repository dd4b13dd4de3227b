//! JSON-RPC multiplexing over one duplex message channel (a stdio process or a legacy SSE
//! connection): request ids, pending calls, progress-token mapping, and delivery of what the
//! server sends to the call it belongs to.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::value::RawValue;
use switchboard_protocol::{
    ErrorObject, Id, Message, Notification, RawMap, Request, Response, methods, to_raw,
};
use tokio::sync::{mpsc, oneshot};

use crate::{CallError, CallOptions, Relay, UpstreamEvent};

/// Our progress token → the client's token, and the call's relay.
type ProgressMap = HashMap<String, (Box<RawValue>, Arc<dyn Relay>)>;

type Reply = oneshot::Sender<Result<Box<RawValue>, CallError>>;

struct Pending {
    reply: Reply,
    relay: Option<Arc<dyn Relay>>,
    started: Instant,
}

pub(crate) struct Mux {
    server: Arc<str>,
    next_id: AtomicI64,
    pending: Mutex<HashMap<i64, Pending>>,
    /// Our progress token → the client's token and where it goes.
    progress: Mutex<ProgressMap>,
    out: mpsc::Sender<Vec<u8>>,
    events: mpsc::UnboundedSender<UpstreamEvent>,
}

/// Removes a call's bookkeeping however the call ends.
struct CallGuard<'a> {
    mux: &'a Mux,
    id: i64,
    token: Option<String>,
    /// The request is out and nobody has told the server it is no longer wanted: if the call
    /// is dropped unanswered (its caller went away), the server gets `notifications/cancelled`.
    outstanding: bool,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        let unanswered = self.mux.pending.lock().remove(&self.id).is_some();
        if unanswered && self.outstanding {
            self.mux.cancel_upstream(self.id, "the caller went away");
        }
        if let Some(t) = &self.token {
            self.mux.progress.lock().remove(t);
        }
    }
}

impl Mux {
    pub(crate) fn new(
        server: Arc<str>,
        out: mpsc::Sender<Vec<u8>>,
        events: mpsc::UnboundedSender<UpstreamEvent>,
    ) -> Arc<Self> {
        Arc::new(Self {
            server,
            next_id: AtomicI64::new(1),
            pending: Mutex::new(HashMap::new()),
            progress: Mutex::new(HashMap::new()),
            out,
            events,
        })
    }

    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    fn failed(&self, reason: impl Into<String>) -> CallError {
        CallError::Failed {
            server: self.server.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) async fn call(
        &self,
        method: &str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        timeout: Duration,
    ) -> Result<Box<RawValue>, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (params, token) = match (&opts.relay, params) {
            (Some(relay), Some(p)) => {
                let ours = format!("sb-{id}");
                match rewrite_progress_token(&p, &ours) {
                    Some((rewritten, theirs)) => {
                        self.progress
                            .lock()
                            .insert(ours.clone(), (theirs, relay.clone()));
                        (Some(rewritten), Some(ours))
                    }
                    None => (Some(p), None),
                }
            }
            (_, p) => (p, None),
        };
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(
            id,
            Pending {
                reply: tx,
                relay: opts.relay,
                started: Instant::now(),
            },
        );
        let mut guard = CallGuard {
            mux: self,
            id,
            token,
            outstanding: false,
        };
        let bytes = Message::request(Id::Num(id), method, params).to_vec();
        // One timer for both waits. Writing may block if the server stopped reading; the
        // deadline and cancellation cover that wait too.
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        tokio::select! {
            sent = self.out.send(bytes) => {
                if sent.is_err() {
                    return Err(self.failed("connection closed"));
                }
            }
            _ = &mut deadline => {
                return Err(CallError::Timeout { server: self.server.to_string(), after: timeout });
            }
            _ = opts.cancel.cancelled() => return Err(CallError::Cancelled),
        }
        guard.outstanding = true;
        let answer = tokio::select! {
            r = rx => r.unwrap_or_else(|_| Err(self.failed("connection closed"))),
            _ = &mut deadline => {
                self.cancel_upstream(id, "timed out in switchboard");
                Err(CallError::Timeout { server: self.server.to_string(), after: timeout })
            }
            _ = opts.cancel.cancelled() => {
                self.cancel_upstream(id, "cancelled by the client");
                Err(CallError::Cancelled)
            }
        };
        guard.outstanding = false;
        answer
    }

    fn cancel_upstream(&self, id: i64, reason: &str) {
        let params = to_raw(&serde_json::json!({"requestId": id, "reason": reason}));
        let _ = self
            .out
            .try_send(Message::notification(methods::CANCELLED, Some(params)).to_vec());
    }

    pub(crate) fn notify(&self, method: &str, params: Option<Box<RawValue>>) {
        if self
            .out
            .try_send(Message::notification(method, params).to_vec())
            .is_err()
        {
            tracing::debug!(server = %self.server, method, "notification dropped: upstream not writable");
        }
    }

    /// Fail every call in flight (the connection is gone).
    pub(crate) fn fail_all(&self, reason: &str) {
        let drained: Vec<Pending> = self.pending.lock().drain().map(|(_, p)| p).collect();
        for p in drained {
            let _ = p.reply.send(Err(self.failed(reason.to_owned())));
        }
        self.progress.lock().clear();
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.pending.lock().len()
    }

    /// Handle one message the server sent.
    pub(crate) fn handle_incoming(&self, msg: Message) {
        match msg {
            Message::Response(Response { id, result }) => {
                let pending = match id {
                    Id::Num(n) => self.pending.lock().remove(&n),
                    _ => None,
                };
                match pending {
                    Some(p) => {
                        let _ = p.reply.send(result.map_err(CallError::Rpc));
                    }
                    None => {
                        tracing::debug!(server = %self.server, %id, "response for no pending request (late or cancelled)")
                    }
                }
            }
            Message::Notification(n) => self.handle_notification(n),
            Message::Request(r) => self.handle_request(r),
        }
    }

    fn handle_notification(&self, n: Notification) {
        match n.method.as_str() {
            methods::PROGRESS => {
                if let Some((n, relay)) = self.restore_progress(n) {
                    relay.notify(n);
                }
            }
            methods::MESSAGE => match self.attribute(false) {
                Some(relay) => relay.notify(n),
                None => self.event(n),
            },
            methods::CANCELLED => {
                tracing::debug!(server = %self.server, "upstream cancelled one of its own requests")
            }
            _ => self.event(n),
        }
    }

    fn event(&self, notification: Notification) {
        let _ = self.events.send(UpstreamEvent::Notification {
            server: self.server.clone(),
            notification,
        });
    }

    fn restore_progress(&self, n: Notification) -> Option<(Notification, Arc<dyn Relay>)> {
        let params = n.params?;
        let mut map = RawMap::parse(&params).ok()?;
        let ours = map.get_str("progressToken")?.into_owned();
        let (theirs, relay) = {
            let guard = self.progress.lock();
            let (t, r) = guard.get(&ours)?;
            (t.clone(), r.clone())
        };
        map.set("progressToken", theirs);
        let params = map.to_raw();
        Some((
            Notification {
                method: n.method,
                params: Some(params),
            },
            relay,
        ))
    }

    /// The call a message with no request reference belongs to (see [`attribute`]).
    /// With `strict` (server→client requests), a call of the gateway's own in flight (a list
    /// refresh) could be the cause, so nothing is attributed. Log messages are attributed
    /// anyway: the gateway's calls belong to no other client, so nothing crosses sessions.
    fn attribute(&self, strict: bool) -> Option<Arc<dyn Relay>> {
        let pending = self.pending.lock();
        if strict && pending.values().any(|p| p.relay.is_none()) {
            return None;
        }
        attribute(
            pending
                .values()
                .filter_map(|p| p.relay.as_ref().map(|r| (r, p.started))),
        )
    }

    fn handle_request(&self, r: Request) {
        if r.method == methods::PING {
            let _ = self.out.try_send(
                Message::response(r.id, Ok(switchboard_protocol::empty_object())).to_vec(),
            );
            return;
        }
        let out = self.out.clone();
        let Some(relay) = self.attribute(true) else {
            let err = ErrorObject::new(
                switchboard_protocol::codes::INTERNAL_ERROR,
                format!(
                    "switchboard cannot route `{}` to a client: it is not made during a call from exactly one client session",
                    r.method
                ),
            );
            tracing::warn!(server = %self.server, method = %r.method, "unattributable server-to-client request refused");
            let _ = out.try_send(Message::response(r.id, Err(err)).to_vec());
            return;
        };
        tokio::spawn(async move {
            let result = relay.request(r.method, r.params).await;
            let _ = out.send(Message::response(r.id, result).to_vec()).await;
        });
    }
}

/// What the channel-based upstreams (stdio, legacy SSE) share: the server's name, its live
/// multiplexed connection (none between a crash and the next start) and its status.
pub(crate) struct Channel {
    pub name: Arc<str>,
    /// Set with [`Channel::set_current`], which keeps `live` in step.
    pub current: parking_lot::Mutex<Option<Arc<Mux>>>,
    /// Whether there is a connection, readable without the lock (a pool's choice of process).
    live: std::sync::atomic::AtomicBool,
    pub status: tokio::sync::watch::Sender<crate::Status>,
}

impl Channel {
    pub(crate) fn new(name: Arc<str>, status: tokio::sync::watch::Sender<crate::Status>) -> Self {
        Self {
            name,
            current: parking_lot::Mutex::new(None),
            live: std::sync::atomic::AtomicBool::new(false),
            status,
        }
    }

    /// The live connection, or none. `live` is raised after a connection is set and lowered
    /// before it is taken away, so a raised flag almost always finds one.
    pub(crate) fn set_current(&self, mux: Option<Arc<Mux>>) {
        let up = mux.is_some();
        if !up {
            self.live.store(false, Ordering::Release);
        }
        *self.current.lock() = mux;
        if up {
            self.live.store(true, Ordering::Release);
        }
    }

    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// A call on the live connection, waiting for a restart if there is none.
    pub(crate) async fn call(
        &self,
        method: &str,
        params: Option<Box<RawValue>>,
        opts: CallOptions,
        timeout: Duration,
    ) -> Result<Box<RawValue>, CallError> {
        let mux = live_connection(
            &self.current,
            &self.status,
            &self.name,
            timeout,
            &opts.cancel,
        )
        .await?;
        mux.call(method, params, opts, timeout).await
    }

    /// A notification on the live connection; dropped when there is none.
    pub(crate) fn notify(&self, method: &str, params: Option<Box<RawValue>>) {
        if let Some(mux) = self.current.lock().clone() {
            mux.notify(method, params);
        }
    }
}

/// The live connection of a channel-based upstream (stdio, legacy SSE); between a crash and
/// the next start, waits for the restart within `timeout`, unless the server is crash-looping
/// or stopped.
pub(crate) async fn live_connection(
    current: &parking_lot::Mutex<Option<Arc<Mux>>>,
    status: &tokio::sync::watch::Sender<crate::Status>,
    server: &str,
    timeout: Duration,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<Arc<Mux>, CallError> {
    use crate::Status;
    if let Some(mux) = current.lock().clone() {
        return Ok(mux);
    }
    let mut rx = status.subscribe();
    let back = tokio::time::timeout(
        timeout,
        rx.wait_for(|s| {
            matches!(
                s,
                Status::Ready(_) | Status::CrashLoop { .. } | Status::Stopped
            )
        }),
    );
    tokio::select! {
        _ = back => {}
        _ = cancel.cancelled() => return Err(CallError::Cancelled),
    }
    current
        .lock()
        .clone()
        .ok_or_else(|| CallError::Unavailable {
            server: server.to_owned(),
            reason: status.borrow().describe(),
        })
}

/// The call a message that names no request belongs to: only when every call in flight comes
/// from the same client session (then the newest of them), so a message is never delivered to
/// a client that did not cause it.
pub(crate) fn attribute<'a>(
    calls: impl Iterator<Item = (&'a Arc<dyn Relay>, Instant)>,
) -> Option<Arc<dyn Relay>> {
    let mut best: Option<(&Arc<dyn Relay>, Instant)> = None;
    let mut origin = None;
    for (relay, started) in calls {
        match origin {
            None => origin = Some(relay.origin()),
            Some(o) if o != relay.origin() => return None,
            Some(_) => {}
        }
        if best.is_none_or(|(_, t)| started > t) {
            best = Some((relay, started));
        }
    }
    best.map(|(r, _)| r.clone())
}

/// If `params._meta.progressToken` is present, replace it with `ours`; returns the rewritten
/// params and the client's original token.
pub(crate) fn rewrite_progress_token(
    params: &RawValue,
    ours: &str,
) -> Option<(Box<RawValue>, Box<RawValue>)> {
    let mut map = RawMap::parse(params).ok()?;
    let meta_raw = map.get("_meta")?;
    let mut meta = RawMap::parse(meta_raw).ok()?;
    let theirs = meta.get("progressToken")?.to_owned();
    meta.set_str("progressToken", ours);
    let meta = meta.to_raw();
    map.set("_meta", meta);
    Some((map.to_raw(), theirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_token_is_rewritten_and_everything_else_kept() {
        let p = RawValue::from_string(
            r#"{"name":"x","arguments":{"progressToken":"not-meta"},"_meta":{"progressToken":7,"other":"y"}}"#.into(),
        )
        .unwrap();
        let (out, theirs) = rewrite_progress_token(&p, "sb-1").unwrap();
        assert_eq!(theirs.get(), "7");
        assert_eq!(
            out.get(),
            r#"{"name":"x","arguments":{"progressToken":"not-meta"},"_meta":{"progressToken":"sb-1","other":"y"}}"#
        );
        let none = RawValue::from_string(r#"{"name":"x"}"#.into()).unwrap();
        assert!(rewrite_progress_token(&none, "sb-2").is_none());
    }
}
