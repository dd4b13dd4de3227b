//! Relays: how the upstream layer reaches the client that made a call — [`CallRelay`] through
//! its session (session era), [`StatelessRelay`] on a 2026-07-28 request's own stream.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, Id, Message, Notification, codes, methods};
use switchboard_upstream::{Relay, RelayFuture};
use tokio::sync::oneshot;

use crate::outbound::Outbound;
use crate::session::Session;

/// The longest a server→client request (sampling, elicitation) may wait for the client.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Routes what an upstream sends about one call back to the client that made it.
pub struct CallRelay {
    pub session: Arc<Session>,
    /// The call's own stream, when the transport has one.
    pub out: Option<Outbound>,
}

impl CallRelay {
    /// The call's own stream while it is open, else the session's standalone stream (a
    /// message may arrive just after the call's answer went out).
    fn stream(&self) -> Option<Outbound> {
        self.out
            .clone()
            .filter(|o| !o.is_closed())
            .or_else(|| self.session.standalone())
    }
}

impl Relay for CallRelay {
    fn notify(&self, n: Notification) {
        if n.method == methods::MESSAGE && !self.session.wants_log(n.params.as_deref()) {
            return;
        }
        let msg = Message::Notification(n);
        match self.stream() {
            Some(out) => {
                out.notify(&msg);
            }
            // The session's stream may be open on another replica (`cluster:`).
            None => {
                if let Some(c) = self.session.cluster().cloned() {
                    crate::letters::tell_stream_elsewhere(c, &self.session.id, &msg);
                }
            }
        }
    }

    fn request(&self, method: String, params: Option<Box<RawValue>>) -> RelayFuture {
        let session = self.session.clone();
        let out = self.stream();
        Box::pin(async move {
            if let Some(cap) = required_capability(&method)
                && !session.client_has(cap)
            {
                return Err(ErrorObject::new(
                    codes::METHOD_NOT_FOUND,
                    format!(
                        "the client did not declare the `{cap}` capability, so `{method}` cannot be sent to it"
                    ),
                ));
            }
            let no_stream = {
                let why = format!("the client has no open stream to receive `{method}`");
                move || ErrorObject::new(codes::INTERNAL_ERROR, why.clone())
            };
            // No stream here: with `cluster:` the session's stream may be open on another
            // replica, which sends the request on; the answer comes back like any other.
            if out.is_none() && session.cluster().is_none() {
                return Err(no_stream());
            }
            let (id, rx): (Id, oneshot::Receiver<_>) = session.expect_response();
            // With `cluster:`, the answer may reach another replica: it must know who waits.
            if let Some(c) = session.cluster()
                && let Err(e) = c
                    .expect_answer(&session.id, &id.to_string(), CLIENT_REQUEST_TIMEOUT)
                    .await
            {
                tracing::warn!(session = %session.id, error = %e, "the cluster was not told this replica waits for the client's answer; it must come here");
            }
            let msg = Message::request(id.clone(), method, params);
            match (&out, session.cluster()) {
                (Some(out), _) => {
                    if !out.send(&msg).await {
                        session.forget_response(&id);
                        return Err(ErrorObject::new(
                            codes::INTERNAL_ERROR,
                            "the client stream closed",
                        ));
                    }
                }
                (None, Some(c)) => {
                    let message = String::from_utf8_lossy(&msg.to_vec()).into_owned();
                    if !matches!(c.notify_stream(&session.id, message).await, Ok(true)) {
                        session.forget_response(&id);
                        return Err(no_stream());
                    }
                }
                (None, None) => return Err(no_stream()),
            }
            match tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, rx).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(ErrorObject::new(
                    codes::INTERNAL_ERROR,
                    "the client session ended",
                )),
                Err(_) => {
                    session.forget_response(&id);
                    Err(ErrorObject::new(
                        codes::INTERNAL_ERROR,
                        "the client did not answer in time",
                    ))
                }
            }
        })
    }

    fn origin(&self) -> u64 {
        self.session.origin
    }
}

pub(crate) fn required_capability(method: &str) -> Option<&'static str> {
    match method {
        methods::SAMPLING_CREATE_MESSAGE => Some("sampling"),
        methods::ELICITATION_CREATE => Some("elicitation"),
        methods::ROOTS_LIST => Some("roots"),
        _ => None,
    }
}

/// The way back to a stateless (2026-07-28) request: only that request's own stream, and log
/// messages only at or above the level the request asked for.
pub struct StatelessRelay {
    pub out: Option<Outbound>,
    pub log_level: Option<u8>,
    pub origin: u64,
}

impl Relay for StatelessRelay {
    fn notify(&self, n: Notification) {
        if n.method == methods::MESSAGE {
            let Some(min) = self.log_level else { return };
            if switchboard_protocol::log_level::message_level(n.params.as_deref()) < min {
                return;
            }
        }
        if let Some(out) = &self.out {
            out.notify(&Message::Notification(n));
        }
    }

    fn request(&self, method: String, _params: Option<Box<RawValue>>) -> RelayFuture {
        // Asking a stateless client needs an `input_required` round trip, which the gateway
        // does not bridge yet; the upstream gets a clear error instead of a hang.
        Box::pin(async move {
            Err(ErrorObject::new(
                codes::INTERNAL_ERROR,
                format!(
                    "switchboard cannot send `{method}` to a 2026-07-28 client yet (input_required bridging is not implemented)"
                ),
            ))
        })
    }

    fn origin(&self) -> u64 {
        self.origin
    }
}
