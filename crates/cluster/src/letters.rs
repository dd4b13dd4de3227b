//! Letters between replicas: each replica reads one pub/sub channel of the store,
//! `replica:<id>`, and the others write to it.
//!
//! - **Answers to server→client requests.** Replica A sends a session-era client a request
//!   (elicitation, sampling, roots) during a call and waits; the client answers with a new
//!   POST, which the balancer may send to replica B. A records, before the request leaves,
//!   which replica waits for `(session, request id)`; B, finding nobody waiting, looks that up
//!   and posts the answer to A, which delivers it to the waiting call. Request ids are unique
//!   across replicas because each copy of a session numbers its requests from its own random
//!   base (see the gateway's `shared_sessions.rs`).
//! - **Requests and replies** whose bodies the gateway defines: a 2026-07-28 client's retry of
//!   a parked call that landed on another replica than the one holding the call is passed to
//!   that one, which answers with replies under the same correlation number (see the gateway's
//!   `parked_elsewhere.rs`).
//! - **Messages for a session's stream**: what a replica has to tell a session-era client
//!   outside any request of its own (a resource update, a list change) goes to the replica
//!   holding the session's open GET stream ([`Cluster::hold_stream`]).
//! - **News for every replica** ([`Cluster::broadcast`], on the `everyone` channel each replica
//!   also reads): a session's new log level, for the replicas holding a copy of it; results
//!   a write call invalidated, for the near copies of the cache.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use switchboard_store::PubSub;
use switchboard_store::redis::AsyncCommands;

use crate::{Cluster, ClusterError, bounded};

/// What one replica posts to another.
/// Externally tagged (`{"answer": {..}}`): raw JSON bodies cannot sit in an internally
/// tagged enum.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Letter {
    /// A client's answer (its JSON-RPC response, as sent) to a request of `session` the
    /// receiving replica waits for.
    Answer { session: String, message: String },
    /// A request from replica `from`, answered with [`Letter::Reply`]s carrying `corr`.
    Request {
        from: String,
        corr: u64,
        body: Box<RawValue>,
    },
    /// A reply to request `corr` of the receiving replica.
    Reply { corr: u64, body: Box<RawValue> },
    /// A message (JSON-RPC, as it goes to the client) for the open GET stream of `session`.
    Notify { session: String, message: String },
    /// To every replica: `session`'s client set its log level (an index, `debug` = 0).
    Level {
        from: String,
        session: String,
        level: u8,
    },
    /// To every replica: the cached results of these servers and tools (exposed names) are
    /// stale.
    Invalidate {
        from: String,
        servers: Vec<String>,
        tools: Vec<String>,
    },
}

/// The channel every replica reads besides its own.
const EVERYONE: &str = "everyone";

impl Cluster {
    fn answer_key(&self, session: &str, id: &str) -> String {
        self.key("waits", &format!("{session}:{id}"))
    }

    fn stream_key(&self, session: &str) -> String {
        self.key("stream", session)
    }

    pub(crate) fn channel(replica: &str) -> String {
        format!("replica:{replica}")
    }

    /// Post `letter` to `replica`.
    pub async fn post(&self, replica: &str, letter: &Letter) -> Result<(), ClusterError> {
        let payload =
            serde_json::to_vec(letter).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
        match tokio::time::timeout(
            crate::STORE_TIMEOUT,
            self.store.publish(&Self::channel(replica), payload),
        )
        .await
        {
            Ok(r) => r.map_err(|e| ClusterError::Store(e.to_string())),
            Err(_) => Err(ClusterError::Timeout(crate::STORE_TIMEOUT)),
        }
    }

    /// Post `letter` to every replica (this one included: it reads the channel too).
    pub async fn broadcast(&self, letter: &Letter) -> Result<(), ClusterError> {
        let payload =
            serde_json::to_vec(letter).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
        match tokio::time::timeout(crate::STORE_TIMEOUT, self.store.publish(EVERYONE, payload))
            .await
        {
            Ok(r) => r.map_err(|e| ClusterError::Store(e.to_string())),
            Err(_) => Err(ClusterError::Timeout(crate::STORE_TIMEOUT)),
        }
    }

    /// This replica waits for the client's answer to request `id` of `session`, for at most
    /// `within`.
    pub async fn expect_answer(
        &self,
        session: &str,
        id: &str,
        within: Duration,
    ) -> Result<(), ClusterError> {
        let key = self.answer_key(session, id);
        let mut conn = self.store.conn().manager();
        let ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX).max(1);
        bounded(conn.pset_ex::<_, _, ()>(&key, &self.replica, ms)).await
    }

    /// Pass `message` (a client's answer to request `id` of `session` that nobody here waits
    /// for) to the replica waiting for it: `true` when one was found and told.
    pub async fn forward_answer(
        &self,
        session: &str,
        id: &str,
        message: String,
    ) -> Result<bool, ClusterError> {
        let key = self.answer_key(session, id);
        let mut conn = self.store.conn().manager();
        let owner: Option<String> = bounded(conn.get(&key)).await?;
        let Some(owner) = owner.filter(|o| *o != self.replica) else {
            return Ok(false);
        };
        let letter = Letter::Answer {
            session: session.to_owned(),
            message,
        };
        self.post(&owner, &letter).await?;
        Ok(true)
    }

    /// This replica holds the open GET stream of `session`, for at most `within` unless
    /// renewed: messages other replicas have for the session come here.
    pub async fn hold_stream(&self, session: &str, within: Duration) -> Result<(), ClusterError> {
        let key = self.stream_key(session);
        let mut conn = self.store.conn().manager();
        let ms = u64::try_from(within.as_millis()).unwrap_or(u64::MAX).max(1);
        bounded(conn.pset_ex::<_, _, ()>(&key, &self.replica, ms)).await
    }

    /// The GET stream of `session` this replica held is closed (only if it still holds it).
    pub async fn release_stream(&self, session: &str) -> Result<(), ClusterError> {
        let key = self.stream_key(session);
        let mut conn = self.store.conn().manager();
        let script = switchboard_store::redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        bounded(
            script
                .key(&key)
                .arg(&self.replica)
                .invoke_async::<i64>(&mut conn),
        )
        .await
        .map(|_| ())
    }

    /// Pass `message` for `session`'s stream to the replica holding that stream: `true` when
    /// another replica holds it and was told.
    pub async fn notify_stream(
        &self,
        session: &str,
        message: String,
    ) -> Result<bool, ClusterError> {
        let key = self.stream_key(session);
        let mut conn = self.store.conn().manager();
        let holder: Option<String> = bounded(conn.get(&key)).await?;
        let Some(holder) = holder.filter(|h| *h != self.replica) else {
            return Ok(false);
        };
        let letter = Letter::Notify {
            session: session.to_owned(),
            message,
        };
        self.post(&holder, &letter).await?;
        Ok(true)
    }

    /// The letters other replicas post to this one, and those for every replica, from now on.
    pub async fn letters(&self) -> Result<Letters, ClusterError> {
        let subscribe = |channel: String| async move {
            self.store
                .subscribe(&channel)
                .await
                .map_err(|e| ClusterError::Store(e.to_string()))
        };
        let own = subscribe(Self::channel(&self.replica)).await?;
        let everyone = subscribe(EVERYONE.to_owned()).await?;
        Ok(Letters { own, everyone })
    }
}

/// The letters posted to this replica and to every replica ([`Cluster::letters`]).
pub struct Letters {
    own: switchboard_store::Subscription,
    everyone: switchboard_store::Subscription,
}

impl Letters {
    /// The next letter; `None` once the store is gone. A payload that is not a letter is
    /// logged and skipped.
    pub async fn next(&mut self) -> Option<Letter> {
        loop {
            let raw = tokio::select! {
                r = self.own.recv() => r?,
                r = self.everyone.recv() => r?,
            };
            match serde_json::from_slice(&raw) {
                Ok(a) => return Some(a),
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: a letter from another replica that is not one; skipped")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::replica;

    /// The next letter, as JSON (letters carry raw JSON, which compares as text).
    async fn next(inbox: &mut Letters) -> String {
        let letter = tokio::time::timeout(Duration::from_secs(5), inbox.next())
            .await
            .unwrap()
            .unwrap();
        text(&letter)
    }

    fn text(letter: &Letter) -> String {
        serde_json::to_string(letter).unwrap()
    }

    fn raw(json: &str) -> Box<RawValue> {
        RawValue::from_string(json.into()).unwrap()
    }

    #[tokio::test]
    async fn an_answer_reaches_the_replica_that_waits_for_it() {
        let prefix = format!("sbtest:{}:", rand::random::<u64>());
        let (a, b) = (replica(&prefix, "a").await, replica(&prefix, "b").await);
        let mut inbox = a.letters().await.unwrap();
        a.expect_answer("s1", "7", Duration::from_secs(30))
            .await
            .unwrap();
        // Nobody waits for request 8; `a` itself is not told what it already has.
        assert!(!b.forward_answer("s1", "8", "{}".into()).await.unwrap());
        assert!(!a.forward_answer("s1", "7", "{}".into()).await.unwrap());
        let msg = r#"{"jsonrpc":"2.0","id":7,"result":{}}"#.to_owned();
        assert!(b.forward_answer("s1", "7", msg.clone()).await.unwrap());
        assert_eq!(
            next(&mut inbox).await,
            text(&Letter::Answer {
                session: "s1".into(),
                message: msg
            })
        );
    }

    #[tokio::test]
    async fn a_message_reaches_the_replica_holding_the_stream_until_it_lets_go() {
        let prefix = format!("sbtest:{}:", rand::random::<u64>());
        let (a, b) = (replica(&prefix, "a").await, replica(&prefix, "b").await);
        let mut inbox = a.letters().await.unwrap();
        // Nobody holds s1's stream yet.
        assert!(!b.notify_stream("s1", "m0".into()).await.unwrap());
        a.hold_stream("s1", Duration::from_secs(30)).await.unwrap();
        assert!(!a.notify_stream("s1", "m1".into()).await.unwrap());
        assert!(b.notify_stream("s1", "m2".into()).await.unwrap());
        assert_eq!(
            next(&mut inbox).await,
            text(&Letter::Notify {
                session: "s1".into(),
                message: "m2".into()
            })
        );
        // `b` letting go of a stream it does not hold changes nothing; `a` letting go does.
        b.release_stream("s1").await.unwrap();
        assert!(b.notify_stream("s1", "m3".into()).await.unwrap());
        a.release_stream("s1").await.unwrap();
        assert!(!b.notify_stream("s1", "m4".into()).await.unwrap());
    }

    #[tokio::test]
    async fn a_broadcast_reaches_every_replica() {
        let prefix = format!("sbtest:{}:", rand::random::<u64>());
        let (a, b) = (replica(&prefix, "a").await, replica(&prefix, "b").await);
        let (mut a_in, mut b_in) = (a.letters().await.unwrap(), b.letters().await.unwrap());
        let news = Letter::Level {
            from: "a".into(),
            session: "s1".into(),
            level: 0,
        };
        a.broadcast(&news).await.unwrap();
        assert_eq!(next(&mut a_in).await, text(&news));
        assert_eq!(next(&mut b_in).await, text(&news));
        // Another deployment (key prefix) hears nothing of it.
        let other = replica(&format!("{prefix}other:"), "c").await;
        let mut c_in = other.letters().await.unwrap();
        a.broadcast(&news).await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), c_in.next())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn requests_and_replies_round_trip() {
        let prefix = format!("sbtest:{}:", rand::random::<u64>());
        let (a, b) = (replica(&prefix, "a").await, replica(&prefix, "b").await);
        let (mut a_in, mut b_in) = (a.letters().await.unwrap(), b.letters().await.unwrap());
        let ask = Letter::Request {
            from: "b".into(),
            corr: 42,
            body: raw(r#"{"resume":"h"}"#),
        };
        b.post("a", &ask).await.unwrap();
        assert_eq!(next(&mut a_in).await, text(&ask));
        let reply = Letter::Reply {
            corr: 42,
            body: raw(r#"{"done":1}"#),
        };
        a.post("b", &reply).await.unwrap();
        assert_eq!(next(&mut b_in).await, text(&reply));
    }
}
