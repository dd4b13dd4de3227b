//! A parked call's retry that lands on another replica (`cluster:`).
//!
//! A 2026-07-28 client calling a session-era upstream that asks for input gets
//! `input_required`, and the upstream call stays parked on the replica that made it
//! (`parked.rs`); its signed `requestState` names that replica. Behind a balancer without
//! affinity the retry may land anywhere: the replica it lands on checks the state as usual,
//! then asks the holder to continue the call (`elsewhere.rs`) and relays what it replies — the
//! round's notifications, then its outcome (the result, or the next `input_required`, whose
//! state names the holder again). A holder that died is noticed within seconds and named in
//! a clear error.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use switchboard_policy::request_state::Binding;
use switchboard_protocol::{ErrorObject, codes};
use tokio_util::sync::CancellationToken;

use crate::elsewhere::{Answer, Heard};
use crate::era::ModernMeta;
use crate::gateway::Gateway;
use crate::letters::Ask;
use crate::outbound::Outbound;
use crate::parked::{Resumed, Round};

/// What the replica holding a parked call needs to continue it for a retry received elsewhere.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Retry {
    pub handle: String,
    pub round: u32,
    pub responses: serde_json::Map<String, serde_json::Value>,
    pub binding: Binding,
    pub version: String,
    pub capabilities: serde_json::Value,
    pub log_level: Option<u8>,
    pub progress_token: Option<Box<RawValue>>,
}

fn lost(holder: &str, why: &str) -> ErrorObject {
    ErrorObject::new(
        codes::INVALID_PARAMS,
        format!(
            "the call this requestState continues is held by replica `{holder}`, which {why}; \
             the call is lost: make it again without requestState"
        ),
    )
    .with_data(switchboard_protocol::to_raw(
        &serde_json::json!({"reason": "invalid_request_state", "replica": holder}),
    ))
}

impl Gateway {
    /// Pass a retry of the parked call held by `holder` to it, and relay its replies: the
    /// round's messages to `out`, then its outcome.
    pub(crate) async fn resume_elsewhere(
        &self,
        holder: &str,
        retry: Retry,
        out: Option<Outbound>,
        cancel: &CancellationToken,
    ) -> Answer {
        let mut conversation = match self
            .ask_replica(holder, &Ask::Resume(Box::new(retry)))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(replica = %holder, error = %e, "a parked call's retry not passed on");
                return Err(lost(holder, &format!("could not be reached ({e})")));
            }
        };
        loop {
            let heard = tokio::select! {
                h = conversation.next() => h,
                _ = cancel.cancelled() => {
                    conversation.cancel().await;
                    return Err(ErrorObject::new(codes::REQUEST_CANCELLED, "request cancelled"));
                }
            };
            match heard {
                Heard::Message(m) => {
                    if let Some(out) = &out {
                        out.notify_bytes(m.into_bytes());
                    }
                }
                Heard::Done(answer) => return answer,
                Heard::Gone(why) => return Err(lost(holder, why)),
            }
        }
    }

    /// A retry received by replica `from` for a parked call held here: continue it, replying
    /// as the round goes.
    pub(crate) fn take_retry(self: &Arc<Self>, from: String, corr: u64, retry: Box<Retry>) {
        let Some((out, done, cancel)) = self.answer_replica(from.clone(), corr) else {
            return;
        };
        tracing::info!(replica = %from, "a parked call continued for a retry another replica received");
        let gw = self.clone();
        tokio::spawn(async move {
            let answer = gw.continue_retry(*retry, out, &cancel).await;
            let _ = done.send(answer);
        });
    }

    /// Continue a parked call of this replica for a retry received elsewhere.
    async fn continue_retry(
        &self,
        retry: Retry,
        out: Outbound,
        cancel: &CancellationToken,
    ) -> Answer {
        let meta = ModernMeta {
            version: retry.version,
            capabilities: retry.capabilities,
            log_level: retry.log_level,
        };
        let binding = retry.binding;
        let seal = |h: &str, r: u32| self.mrtr.seal_park(&binding, h, r, self.replica_id());
        let running = match self.parked.resume(
            &retry.handle,
            retry.round,
            &retry.responses,
            Some(out),
            &meta,
            retry.progress_token,
        )? {
            Resumed::Continue(running) => running,
            Resumed::Again { running, missing } => {
                return Ok(self.parked.repark(running, missing, retry.round + 1, seal));
            }
        };
        match self
            .parked
            .round(running, retry.round + 1, cancel, self.mrtr.ttl(), seal)
            .await
        {
            Round::Done(answer) => answer,
            Round::Input(result) => Ok(result),
        }
    }
}
