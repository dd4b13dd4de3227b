//! Answers to server→client requests across replicas. Replica A sends a session-era client a
//! request (elicitation, sampling, roots) during a call and waits; the client answers with a
//! new POST, which the balancer may send to replica B. A records, before the request leaves,
//! which replica waits for `(session, request id)`; B, finding nobody waiting, looks that up
//! and publishes the answer on A's channel; A delivers it to the waiting call. Request ids are
//! unique across replicas because each copy of a session numbers its requests from its own
//! random base (see the gateway's `shared_sessions.rs`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_store::PubSub;
use switchboard_store::redis::AsyncCommands;

use crate::{Cluster, ClusterError, bounded};

/// An answer passed from the replica that received it to the one waiting for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardedAnswer {
    pub session: String,
    /// The client's JSON-RPC response, as it sent it.
    pub message: String,
}

impl Cluster {
    fn answer_key(&self, session: &str, id: &str) -> String {
        self.key("waits", &format!("{session}:{id}"))
    }

    fn channel(replica: &str) -> String {
        format!("replica:{replica}")
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
        let payload = serde_json::to_vec(&ForwardedAnswer {
            session: session.to_owned(),
            message,
        })
        .map_err(|e| ClusterError::Corrupt(e.to_string()))?;
        self.store
            .publish(&Self::channel(&owner), payload)
            .await
            .map_err(|e| ClusterError::Store(e.to_string()))?;
        Ok(true)
    }

    /// Answers other replicas pass to this one, from now on.
    pub async fn answers(&self) -> Result<Answers, ClusterError> {
        let sub = self
            .store
            .subscribe(&Self::channel(&self.replica))
            .await
            .map_err(|e| ClusterError::Store(e.to_string()))?;
        Ok(Answers { sub })
    }
}

/// The answers passed to this replica ([`Cluster::answers`]).
pub struct Answers {
    sub: switchboard_store::Subscription,
}

impl Answers {
    /// The next answer; `None` once the store is gone. A payload that is not an answer is
    /// logged and skipped.
    pub async fn next(&mut self) -> Option<ForwardedAnswer> {
        loop {
            let raw = self.sub.recv().await?;
            match serde_json::from_slice(&raw) {
                Ok(a) => return Some(a),
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: a forwarded answer that is not one; skipped")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::replica;

    #[tokio::test]
    async fn an_answer_reaches_the_replica_that_waits_for_it() {
        let prefix = format!("sbtest:{}:", rand::random::<u64>());
        let (a, b) = (replica(&prefix, "a").await, replica(&prefix, "b").await);
        let mut inbox = a.answers().await.unwrap();
        a.expect_answer("s1", "7", Duration::from_secs(30))
            .await
            .unwrap();
        // Nobody waits for request 8; `a` itself is not told what it already has.
        assert!(!b.forward_answer("s1", "8", "{}".into()).await.unwrap());
        assert!(!a.forward_answer("s1", "7", "{}".into()).await.unwrap());
        let msg = r#"{"jsonrpc":"2.0","id":7,"result":{}}"#.to_owned();
        assert!(b.forward_answer("s1", "7", msg.clone()).await.unwrap());
        let got = tokio::time::timeout(Duration::from_secs(5), inbox.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            got,
            ForwardedAnswer {
                session: "s1".into(),
                message: msg
            }
        );
    }
}
