//! Bridge A: a 2026-07-28 client calling a session-era upstream that asks for input.
//!
//! A session-era upstream asks by sending sampling/elicitation/roots *requests* while the call
//! stays open; a modern client can only be asked with an `input_required` result, after which it
//! retries the request with `inputResponses`. So the upstream call is **parked**: it keeps
//! running in a task, its pending requests wait for their answers, and the client gets
//! `input_required` with a signed `requestState` naming the parked call (its handle and round).
//! The retry delivers the answers and waits for the next round or the result, on the retry's
//! own stream. This is the one place where a modern request leaves state in memory: only the
//! replica holding the upstream connection can continue the call (docs/design §5.5).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, Message, Notification, RawMap, codes, methods, to_raw};
use switchboard_upstream::{Relay, RelayFuture};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::era::ModernMeta;
use crate::outbound::Outbound;
use switchboard_policy::request_state::{INPUT_REQUESTS, INPUT_REQUIRED, RESULT_TYPE};

type Answer = Result<Box<RawValue>, ErrorObject>;

/// How long parallel input requests are gathered into one round.
const GATHER: Duration = Duration::from_millis(20);

/// Notifications kept while no request of the call is open (between rounds).
const BUFFERED: usize = 64;

/// A server→client request the upstream made during a parked call.
struct Ask {
    method: String,
    params: Option<Box<RawValue>>,
    reply: oneshot::Sender<Answer>,
}

/// Where the current round of a parked call sends what the upstream says about it.
struct Current {
    out: Option<Outbound>,
    log_level: Option<u8>,
    capabilities: serde_json::Value,
    progress_token: Option<Box<RawValue>>,
    buffered: Vec<Notification>,
}

/// The relay of a call that may be parked: requests become input requests of the next round.
pub struct ParkingRelay {
    current: Mutex<Current>,
    asks: mpsc::UnboundedSender<Ask>,
    origin: u64,
}

impl ParkingRelay {
    /// Point the call at a new request's stream, level and capabilities; flush what was kept.
    fn attach(
        &self,
        out: Option<Outbound>,
        meta: &ModernMeta,
        progress_token: Option<Box<RawValue>>,
    ) {
        let buffered = {
            let mut c = self.current.lock();
            c.out = out;
            c.log_level = meta.log_level;
            c.capabilities = meta.capabilities.clone();
            c.progress_token = progress_token;
            std::mem::take(&mut c.buffered)
        };
        for n in buffered {
            self.notify(n);
        }
    }

    fn detach(&self) {
        self.current.lock().out = None;
    }
}

impl Relay for ParkingRelay {
    fn notify(&self, n: Notification) {
        let mut c = self.current.lock();
        if n.method == methods::MESSAGE {
            let Some(min) = c.log_level else { return };
            if switchboard_protocol::log_level::message_level(n.params.as_deref()) < min {
                return;
            }
        }
        let n = match (n.method.as_str(), &c.progress_token) {
            (methods::PROGRESS, Some(token)) => repoint(n, token),
            _ => n,
        };
        match c.out.as_ref().filter(|o| !o.is_closed()) {
            Some(out) => {
                out.notify(&Message::Notification(n));
            }
            None if c.buffered.len() < BUFFERED => c.buffered.push(n),
            None => {}
        }
    }

    fn request(&self, method: String, params: Option<Box<RawValue>>) -> RelayFuture {
        let declared = match crate::relay::required_capability(&method) {
            Some(cap) => self
                .current
                .lock()
                .capabilities
                .get(cap)
                .is_some_and(|v| !v.is_null())
                .then_some(())
                .ok_or(cap),
            None => Err("a known one"),
        };
        let (reply, rx) = oneshot::channel();
        let sent = declared.is_ok()
            && self
                .asks
                .send(Ask {
                    method: method.clone(),
                    params,
                    reply,
                })
                .is_ok();
        Box::pin(async move {
            if let Err(cap) = declared {
                return Err(ErrorObject::new(
                    codes::METHOD_NOT_FOUND,
                    format!(
                        "the client did not declare the `{cap}` capability, so `{method}` cannot be sent to it"
                    ),
                ));
            }
            if !sent {
                return Err(ErrorObject::internal("the call is no longer parked"));
            }
            rx.await.unwrap_or_else(|_| {
                Err(ErrorObject::new(
                    codes::REQUEST_CANCELLED,
                    "the client did not answer the input request in time",
                ))
            })
        })
    }

    fn origin(&self) -> u64 {
        self.origin
    }
}

/// A progress notification re-pointed at the current request's token.
fn repoint(n: Notification, token: &RawValue) -> Notification {
    let Some(params) = n.params.as_deref() else {
        return n;
    };
    let Ok(mut map) = RawMap::parse(params) else {
        return n;
    };
    map.set("progressToken", token.to_owned());
    Notification {
        method: n.method,
        params: Some(map.to_raw()),
    }
}

/// An upstream call running on behalf of a modern client, possibly waiting for its input.
pub struct Running {
    result: JoinHandle<Answer>,
    asks: mpsc::UnboundedReceiver<Ask>,
    relay: Arc<ParkingRelay>,
    cancel: CancellationToken,
}

impl Running {
    /// Start `call` with a parking relay attached to the request's stream.
    pub fn start<F>(
        out: Option<Outbound>,
        meta: &ModernMeta,
        progress_token: Option<Box<RawValue>>,
        call: F,
    ) -> Self
    where
        F: FnOnce(
            Arc<dyn Relay>,
            CancellationToken,
        ) -> futures_util::future::BoxFuture<'static, Answer>,
    {
        let (tx, asks) = mpsc::unbounded_channel();
        let relay = Arc::new(ParkingRelay {
            current: Mutex::new(Current {
                out,
                log_level: meta.log_level,
                capabilities: meta.capabilities.clone(),
                progress_token,
                buffered: Vec::new(),
            }),
            asks: tx,
            origin: crate::session::next_origin(),
        });
        let cancel = CancellationToken::new();
        let result = tokio::spawn(call(relay.clone(), cancel.clone()));
        Self {
            result,
            asks,
            relay,
            cancel,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Dropped without a result: nobody will continue the call.
        if !self.result.is_finished() {
            self.cancel.cancel();
        }
    }
}

/// A call waiting for the client's answers.
struct ParkedCall {
    round: u32,
    /// Input request key → (what was asked, where the answer goes).
    pending: Vec<(String, serde_json::Value, oneshot::Sender<Answer>)>,
    running: Running,
}

/// What a round ended with.
pub enum Round {
    /// The call finished.
    Done(Answer),
    /// It needs input: answer the client with this `input_required` result.
    Input(Box<RawValue>),
}

/// The parked calls of this replica.
#[derive(Default)]
pub struct Parked {
    calls: Arc<Mutex<HashMap<String, ParkedCall>>>,
}

impl Parked {
    /// Run a round: wait for the call's result, or for its next input requests, which park it.
    /// `seal(handle, round)` makes the round's `requestState`.
    pub async fn round(
        &self,
        mut running: Running,
        round: u32,
        cancel: &CancellationToken,
        ttl: Duration,
        seal: impl FnOnce(&str, u32) -> String,
    ) -> Round {
        let first = tokio::select! {
            r = &mut running.result => {
                return Round::Done(r.unwrap_or_else(|e| Err(ErrorObject::internal(format!("the upstream call failed: {e}")))));
            }
            ask = running.asks.recv() => ask,
            _ = cancel.cancelled() => {
                running.cancel.cancel();
                return Round::Done(Err(ErrorObject::new(codes::REQUEST_CANCELLED, "request cancelled")));
            }
        };
        let Some(first) = first else {
            let r = (&mut running.result).await;
            return Round::Done(r.unwrap_or_else(|e| {
                Err(ErrorObject::internal(format!(
                    "the upstream call failed: {e}"
                )))
            }));
        };
        let mut asks = vec![first];
        let gather = tokio::time::sleep(GATHER);
        tokio::pin!(gather);
        loop {
            tokio::select! {
                Some(a) = running.asks.recv() => asks.push(a),
                _ = &mut gather => break,
            }
        }
        running.relay.detach();
        let mut requests = serde_json::Map::new();
        let mut pending = Vec::new();
        for (i, ask) in asks.into_iter().enumerate() {
            let key = format!("sb-{round}-{}", i + 1);
            let request = input_request(&ask.method, ask.params.as_deref());
            requests.insert(key.clone(), request.clone());
            pending.push((key, request, ask.reply));
        }
        let handle = uuid::Uuid::new_v4().simple().to_string();
        let state = seal(&handle, round);
        self.calls.lock().insert(
            handle.clone(),
            ParkedCall {
                round,
                pending,
                running,
            },
        );
        // Unanswered rounds expire: the upstream's requests fail and its call is cancelled.
        let calls = self.calls.clone();
        tokio::spawn(async move {
            tokio::time::sleep(ttl).await;
            let expired = {
                let mut c = calls.lock();
                match c.get(&handle) {
                    Some(p) if p.round == round => c.remove(&handle),
                    _ => None,
                }
            };
            if expired.is_some() {
                tracing::info!(round, "a parked call expired without an answer; cancelled");
            }
        });
        Round::Input(to_raw(&serde_json::json!({
            RESULT_TYPE: INPUT_REQUIRED,
            INPUT_REQUESTS: requests,
            "requestState": state,
        })))
    }

    /// Continue the parked call `handle` at `round` with the client's `responses`. `Ok(Err(..))`
    /// re-asks what was not answered (a new round); `Ok(Ok(running))` continues the call.
    pub fn resume(
        &self,
        handle: &str,
        round: u32,
        responses: &serde_json::Map<String, serde_json::Value>,
        out: Option<Outbound>,
        meta: &ModernMeta,
        progress_token: Option<Box<RawValue>>,
    ) -> Result<Resumed, ErrorObject> {
        // Taken out atomically: a second retry with the same state finds nothing.
        let parked = {
            let mut calls = self.calls.lock();
            match calls.get(handle) {
                Some(p) if p.round == round => calls.remove(handle),
                _ => None,
            }
        };
        let Some(mut parked) = parked else {
            return Err(switchboard_policy::request_state::invalid_state());
        };
        // Check every answer before sending any, so a bad one leaves the call as it was.
        let bad = parked.pending.iter().find_map(|(key, asked, _)| {
            let answer = responses.get(key)?;
            check_answer(asked, answer)
                .err()
                .map(|why| format!("inputResponses.{key}: {why}"))
        });
        if let Some(why) = bad {
            self.calls.lock().insert(handle.to_owned(), parked);
            return Err(ErrorObject::invalid_params(why));
        }
        let mut missing = Vec::new();
        for (key, asked, reply) in std::mem::take(&mut parked.pending) {
            match responses.get(&key) {
                Some(answer) => {
                    let _ = reply.send(Ok(to_raw(answer)));
                }
                None => missing.push((key, asked, reply)),
            }
        }
        parked.running.relay.attach(out, meta, progress_token);
        if missing.is_empty() {
            return Ok(Resumed::Continue(parked.running));
        }
        Ok(Resumed::Again {
            running: parked.running,
            missing,
        })
    }

    /// Park a call again, asking only what is still `missing`.
    pub fn repark(
        &self,
        running: Running,
        missing: Vec<(String, serde_json::Value, oneshot::Sender<Answer>)>,
        round: u32,
        seal: impl FnOnce(&str, u32) -> String,
    ) -> Box<RawValue> {
        running.relay.detach();
        let requests: serde_json::Map<String, serde_json::Value> = missing
            .iter()
            .map(|(k, asked, _)| (k.clone(), asked.clone()))
            .collect();
        let handle = uuid::Uuid::new_v4().simple().to_string();
        let state = seal(&handle, round);
        self.calls.lock().insert(
            handle,
            ParkedCall {
                round,
                pending: missing,
                running,
            },
        );
        to_raw(&serde_json::json!({
            RESULT_TYPE: INPUT_REQUIRED,
            INPUT_REQUESTS: requests,
            "requestState": state,
        }))
    }

    /// Parked calls right now.
    pub fn len(&self) -> usize {
        self.calls.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a retry found.
pub enum Resumed {
    /// Every input was answered: wait for the call's next round.
    Continue(Running),
    /// Some inputs were not answered: ask them again.
    Again {
        running: Running,
        missing: Vec<(String, serde_json::Value, oneshot::Sender<Answer>)>,
    },
}

/// An upstream's request as a 2026-07-28 input request: `{method, params}`; URL-mode
/// elicitation loses the 2025 `elicitationId`.
fn input_request(method: &str, params: Option<&RawValue>) -> serde_json::Value {
    let mut params: serde_json::Value = params
        .and_then(|p| serde_json::from_str(p.get()).ok())
        .unwrap_or_else(|| serde_json::json!({}));
    if method == methods::ELICITATION_CREATE
        && let Some(p) = params.as_object_mut()
    {
        p.remove("elicitationId");
    }
    serde_json::json!({"method": method, "params": params})
}

/// Whether an answer has the shape its request's result needs.
fn check_answer(asked: &serde_json::Value, answer: &serde_json::Value) -> Result<(), String> {
    let Some(obj) = answer.as_object() else {
        return Err("must be an object".into());
    };
    match asked
        .get("method")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
    {
        methods::ELICITATION_CREATE => match obj.get("action").and_then(|a| a.as_str()) {
            Some("accept" | "decline" | "cancel") => Ok(()),
            _ => Err("an elicitation answer needs `action`: accept, decline or cancel".into()),
        },
        methods::SAMPLING_CREATE_MESSAGE => {
            if obj.contains_key("role") && obj.contains_key("content") {
                Ok(())
            } else {
                Err("a sampling answer needs `role` and `content`".into())
            }
        }
        methods::ROOTS_LIST => match obj.get("roots") {
            Some(serde_json::Value::Array(_)) => Ok(()),
            _ => Err("a roots answer needs a `roots` array".into()),
        },
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_checked_against_what_was_asked() {
        let elicit = json!({"method": "elicitation/create", "params": {}});
        assert!(check_answer(&elicit, &json!({"action": "accept", "content": {"a": 1}})).is_ok());
        assert!(check_answer(&elicit, &json!(12345)).is_err());
        assert!(check_answer(&elicit, &json!({"action": "maybe"})).is_err());
        let sample = json!({"method": "sampling/createMessage"});
        assert!(
            check_answer(
                &sample,
                &json!({"role": "assistant", "content": {"type": "text", "text": "x"}})
            )
            .is_ok()
        );
        assert!(check_answer(&sample, &json!({"text": "x"})).is_err());
        let roots = json!({"method": "roots/list"});
        assert!(check_answer(&roots, &json!({"roots": []})).is_ok());
        assert!(check_answer(&roots, &json!({"roots": null})).is_err());
    }

    #[test]
    fn url_elicitation_loses_its_id() {
        let p = RawValue::from_string(
            r#"{"mode":"url","url":"https://x","elicitationId":"e1","message":"m"}"#.into(),
        )
        .unwrap();
        let r = input_request("elicitation/create", Some(&p));
        assert!(r["params"].get("elicitationId").is_none());
        assert_eq!(r["params"]["url"], "https://x");
    }
}
