//! The letters other replicas post to this one (`cluster:`; `switchboard-cluster`'s
//! `letters.rs`): answers to our server→client requests, retries of parked calls we hold and
//! replies to the ones we passed on (`parked_elsewhere.rs`), messages for the session streams
//! we hold; and the news posted to every replica: a session's log level, cache invalidations.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use switchboard_cluster::Letter;
use switchboard_protocol::Message;

use crate::gateway::Gateway;
use crate::parked_elsewhere::Retry;

/// What one replica asks another ([`Letter::Request`]'s body).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Ask {
    /// Continue a parked call held here for a retry received there (`parked_elsewhere.rs`).
    Resume(Box<Retry>),
    /// The client of a request asked here went away (`elsewhere.rs`).
    Cancel,
    /// Replay stream `stream` of `session`, kept here, from sequence `from` on, for a client
    /// whose `Last-Event-ID` landed on the asking replica (`http/replay.rs`).
    Replay {
        session: String,
        stream: u64,
        from: u64,
    },
    /// The client unsubscribed, through the asking replica, from a resource whose upstream
    /// subscription this replica holds for it (`shared_subscriptions.rs`).
    Unsubscribe { session: String, uri: String },
}

impl Gateway {
    /// Read the letters other replicas post to this one for as long as the gateway runs
    /// (subscribing again after the store comes back).
    pub(crate) fn follow_letters(self: &Arc<Self>) {
        let Some(c) = self.cluster.clone() else {
            return;
        };
        let gw = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                match c.letters().await {
                    Ok(mut inbox) => {
                        while let Some(letter) = inbox.next().await {
                            let Some(gw) = gw.upgrade() else { return };
                            gw.read_letter(letter);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster: not receiving letters from other replicas; retrying")
                    }
                }
                if gw.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    fn read_letter(self: &Arc<Self>, letter: Letter) {
        match letter {
            Letter::Answer { session, message } => {
                let Some(s) = self.sessions.get(&session) else {
                    return;
                };
                match switchboard_protocol::parse_message(message.as_bytes()) {
                    Ok(Message::Response(r)) => self.handle_response(&s, r),
                    _ => {
                        tracing::warn!(session = %session, "a forwarded answer that is not a response; dropped")
                    }
                }
            }
            Letter::Request { from, corr, body } => self.take_request(from, corr, &body),
            Letter::Reply { corr, body } => self.deliver_reply(corr, &body),
            Letter::Level {
                from,
                session,
                level,
            } => {
                if Some(from.as_str()) == self.replica_id() {
                    return;
                }
                if let Some(s) = self.sessions.get(&session) {
                    s.set_log_level(level);
                    self.tell_upstreams_log_level(level);
                }
            }
            Letter::Invalidate {
                from,
                servers,
                tools,
            } => {
                if Some(from.as_str()) == self.replica_id() {
                    return;
                }
                let cache = self.policies().cache.clone();
                for name in &servers {
                    if let Some(idx) = self.catalog.server_index(name) {
                        cache.forget_server(idx);
                    }
                }
                cache.forget_tools(&tools);
            }
            Letter::Notify { session, message } => {
                match self.sessions.get(&session).and_then(|s| s.standalone()) {
                    Some(out) => {
                        out.notify_bytes(message.into_bytes());
                    }
                    None => {
                        tracing::debug!(session = %session, "a message for a stream no longer open here; dropped")
                    }
                }
            }
        }
    }

    fn take_request(self: &Arc<Self>, from: String, corr: u64, body: &RawValue) {
        match serde_json::from_str::<Ask>(body.get()) {
            Ok(Ask::Resume(retry)) => self.take_retry(from, corr, retry),
            Ok(Ask::Cancel) => self.cancel_for_replica(from, corr),
            Ok(Ask::Replay {
                session,
                stream,
                from: seq,
            }) => self.replay_for(from, corr, &session, stream, seq),
            Ok(Ask::Unsubscribe { session, uri }) => self.unsubscribe_here(&session, &uri),
            Err(e) => {
                tracing::warn!(replica = %from, error = %e, "a request from another replica that is not one; dropped")
            }
        }
    }

    /// Tell the replicas holding a copy of `session` its client's new log `level`.
    pub(crate) fn broadcast_log_level(&self, session: &crate::session::Session, level: u8) {
        let Some(c) = self.cluster.clone() else {
            return;
        };
        let letter = Letter::Level {
            from: c.replica_id().to_owned(),
            session: session.id.to_string(),
            level,
        };
        tokio::spawn(async move {
            if let Err(e) = c.broadcast(&letter).await {
                tracing::warn!(error = %e, "a session's log level not passed to the other replicas");
            }
        });
    }

    /// Tell the other replicas that results of `servers` and `tools` were dropped from the
    /// shared cache (their near copies go too), when the cache is shared.
    pub(crate) fn broadcast_invalidation(
        &self,
        cache: &crate::cache::ResultCache,
        servers: Vec<String>,
        tools: Vec<String>,
    ) {
        broadcast_invalidation(self.cluster.clone(), cache, servers, tools);
    }

    /// Send `msg` to `session`'s standalone stream: here when it is open here, else (with
    /// `cluster:`) on the replica holding it, in the background.
    pub(crate) fn tell_session(&self, session: &crate::session::Session, msg: &Message) {
        if let Some(out) = session.standalone() {
            out.notify(msg);
            return;
        }
        self.tell_session_id(&session.id, msg);
    }

    /// Send `msg` to the standalone stream of session `id`, which this replica does not hold,
    /// through the replica that does (with `cluster:`).
    pub(crate) fn tell_session_id(&self, id: &str, msg: &Message) {
        if let Some(c) = self.cluster.clone() {
            tell_stream_elsewhere(c, id, msg);
        }
    }
}

/// Send `msg` to the standalone stream of session `id` held by another replica of `cluster`,
/// in the background (a failure is logged: the message is lost).
pub(crate) fn tell_stream_elsewhere(
    cluster: switchboard_cluster::Cluster,
    id: &str,
    msg: &Message,
) {
    let (id, message) = (
        id.to_owned(),
        String::from_utf8_lossy(&msg.to_vec()).into_owned(),
    );
    tokio::spawn(async move {
        if let Err(e) = cluster.notify_stream(&id, message).await {
            tracing::warn!(session = %id, error = %e, "a message for a session's stream on another replica not passed on");
        }
    });
}

/// Tell every replica of `cluster` that results of `servers` and `tools` were dropped from the
/// shared cache, so that their near copies go too (nothing without a cluster or a shared
/// cache).
pub(crate) fn broadcast_invalidation(
    cluster: Option<switchboard_cluster::Cluster>,
    cache: &crate::cache::ResultCache,
    servers: Vec<String>,
    tools: Vec<String>,
) {
    let Some(c) = cluster.filter(|_| cache.is_shared()) else {
        return;
    };
    let letter = Letter::Invalidate {
        from: c.replica_id().to_owned(),
        servers,
        tools,
    };
    tokio::spawn(async move {
        if let Err(e) = c.broadcast(&letter).await {
            tracing::warn!(error = %e, "an invalidation not passed to the other replicas (their copies expire within cache.local_ttl)");
        }
    });
}
