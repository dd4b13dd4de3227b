//! A `Last-Event-ID` naming a stream another replica keeps (`cluster:`): event ids carry the
//! name of the replica holding the stream (`events.rs`), so the replica the client's GET lands
//! on asks that one to replay the stream (`elsewhere.rs`) and passes its events on — what the
//! client missed, then the rest as it comes. When the holder is gone, the client is told
//! clearly (410) that those events cannot be replayed and its request must be sent again.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::StatusCode;

use super::Reject;
use super::events::Resume;
use crate::elsewhere::Heard;
use crate::gateway::Gateway;
use crate::letters::Ask;
use crate::session::Session;

impl Gateway {
    /// Replay stream `stream` of `session`, kept by `replica`, from `from` on.
    pub(super) async fn replay_elsewhere(
        &self,
        replica: &str,
        session: &Session,
        stream: u64,
        from: u64,
    ) -> Result<Response, Reject> {
        let gone = |why: &str| {
            Reject::new(
                StatusCode::GONE,
                format!(
                    "the stream this Last-Event-ID belongs to is kept by replica `{replica}`, which {why}: \
                     its events cannot be replayed; send the request again"
                ),
            )
        };
        let ask = Ask::Replay {
            session: session.id.to_string(),
            stream,
            from,
        };
        let mut conversation = self
            .ask_replica(replica, &ask)
            .await
            .map_err(|e| gone(&format!("could not be reached ({e})")))?;
        // The first thing heard decides the answer's status.
        let first = match conversation.next().await {
            Heard::Message(m) => Some(m),
            Heard::Done(Ok(_)) => None,
            Heard::Done(Err(e)) => return Err(gone(&e.message)),
            Heard::Gone(why) => return Err(gone(why)),
        };
        let Some(first) = first else {
            return Ok(super::sse_headers(Body::empty()));
        };
        let body = futures_util::stream::unfold(
            (Some(first), Some(conversation)),
            |(first, conversation)| async move {
                if let Some(m) = first {
                    return Some((Ok::<_, Infallible>(Bytes::from(m)), (None, conversation)));
                }
                let mut conversation = conversation?;
                match conversation.next().await {
                    Heard::Message(m) => Some((Ok(Bytes::from(m)), (None, Some(conversation)))),
                    Heard::Done(_) | Heard::Gone(_) => None,
                }
            },
        );
        Ok(super::sse_headers(Body::from_stream(body)))
    }

    /// Another replica asks for stream `stream` of `session`, kept here, from `from` on:
    /// its events (SSE frames, ids included) as they are and as they come.
    pub(crate) fn replay_for(
        self: &Arc<Self>,
        asker: String,
        corr: u64,
        session: &str,
        stream: u64,
        from: u64,
    ) {
        let log = self
            .sessions
            .get(session)
            .and_then(|s| super::streams_of(&s).log(stream));
        let Some(log) = log else {
            let gw = self.clone();
            tokio::spawn(async move {
                let why = switchboard_protocol::ErrorObject::invalid_request(
                    "no longer keeps it (finished more than a minute ago, or the replica restarted)",
                );
                gw.reply_done(&asker, corr, Err(why)).await;
            });
            return;
        };
        let Some((out, done, cancel)) = self.answer_replica(asker, corr) else {
            return;
        };
        tokio::spawn(async move {
            let mut seq = from;
            loop {
                let next = tokio::select! {
                    n = log.next(seq) => n,
                    _ = cancel.cancelled() => None,
                };
                let Some((s, frame)) = next else { break };
                if !out.send_bytes(frame.to_vec()).await {
                    break;
                }
                seq = s + 1;
            }
            let _ = done.send(Ok(switchboard_protocol::to_raw(&serde_json::Value::Null)));
        });
    }
}

/// Where a `Last-Event-ID` points, for this replica.
pub(super) fn resume(gw: &Gateway, session: &Session, last_event_id: &str) -> Resume {
    super::streams_of(session).resume(last_event_id, gw.replica_id())
}
