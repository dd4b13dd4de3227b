//! Session records: a session-era session as any replica needs it to serve the session's next
//! request. Written on `initialize` (before the answer leaves, so the client's next request
//! finds it wherever it lands) and when the session changes (log level); kept as long as the
//! session may stay idle (`http.session_idle_timeout`), the time to live renewed while it is
//! used; removed when the client ends the session (`DELETE`). A replica reaping a session it
//! has not seen used for a while does not remove the record: the client may be using it on
//! another replica.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_store::redis::AsyncCommands;

use crate::{Cluster, ClusterError, bounded};

/// What a replica needs to go on serving a session it did not open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    /// The subject that opened it; only it may use it.
    pub owner: Option<String>,
    pub protocol_version: String,
    pub client_capabilities: serde_json::Value,
    pub client_info: serde_json::Value,
    /// Minimum log level forwarded (index into the protocol's levels).
    pub log_level: u8,
    /// The replica that wrote the record last (for logs).
    pub replica: String,
}

impl Cluster {
    /// Write `record` (replacing what was there), kept for `ttl`.
    pub async fn save_session(
        &self,
        mut record: SessionRecord,
        ttl: Duration,
    ) -> Result<(), ClusterError> {
        record.replica = self.replica.clone();
        let key = self.key("session", &record.id);
        let json = serde_json::to_vec(&record).map_err(|e| ClusterError::Corrupt(e.to_string()))?;
        let mut conn = self.store.conn().manager();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        bounded(conn.pset_ex::<_, _, ()>(&key, json, ms)).await
    }

    /// The record of session `id`, if one is kept.
    pub async fn load_session(&self, id: &str) -> Result<Option<SessionRecord>, ClusterError> {
        let key = self.key("session", id);
        let mut conn = self.store.conn().manager();
        let raw: Option<Vec<u8>> = bounded(conn.get(&key)).await?;
        raw.map(|r| serde_json::from_slice(&r).map_err(|e| ClusterError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Keep session `id`'s record for `ttl` from now.
    pub async fn touch_session(&self, id: &str, ttl: Duration) -> Result<(), ClusterError> {
        let mut conn = self.store.conn().manager();
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let mut pipe = switchboard_store::redis::pipe();
        pipe.pexpire(self.key("session", id), ms)
            .ignore()
            .pexpire(self.subscriptions_key(id), ms)
            .ignore();
        bounded(pipe.query_async::<()>(&mut conn)).await
    }

    /// The client ended session `id`.
    pub async fn remove_session(&self, id: &str) -> Result<(), ClusterError> {
        let mut conn = self.store.conn().manager();
        bounded(conn.del::<_, ()>(&[self.key("session", id), self.subscriptions_key(id)])).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::replica;

    async fn cluster(prefix: &str) -> Cluster {
        replica(prefix, "r1").await
    }

    #[tokio::test]
    async fn a_record_round_trips_expires_and_is_removed() {
        let prefix = format!("sbtest:{}:", rand::random::<u64>());
        let c = cluster(&prefix).await;
        let rec = SessionRecord {
            id: "s1".into(),
            owner: Some("alice".into()),
            protocol_version: "2025-11-25".into(),
            client_capabilities: serde_json::json!({"elicitation": {}}),
            client_info: serde_json::json!({"name": "t"}),
            log_level: 3,
            replica: String::new(),
        };
        c.save_session(rec.clone(), Duration::from_secs(60))
            .await
            .unwrap();
        let back = c.load_session("s1").await.unwrap().unwrap();
        assert_eq!(back.owner, rec.owner);
        assert_eq!(back.client_capabilities, rec.client_capabilities);
        assert_eq!(back.replica, "r1");
        assert!(c.load_session("s2").await.unwrap().is_none());
        c.touch_session("s1", Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(c.load_session("s1").await.unwrap().is_none(), "expired");
        c.save_session(rec, Duration::from_secs(60)).await.unwrap();
        c.remove_session("s1").await.unwrap();
        assert!(c.load_session("s1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn replicas_share_one_secret() {
        let prefix = format!("sbtest:{}:", rand::random::<u64>());
        let (a, b) = (cluster(&prefix).await, cluster(&prefix).await);
        let ka = a.shared_secret("mrtr").await.unwrap();
        let kb = b.shared_secret("mrtr").await.unwrap();
        assert_eq!(ka, kb);
        assert_eq!(ka.len(), 32);
        let other = cluster(&format!("{prefix}x:")).await;
        assert_ne!(other.shared_secret("mrtr").await.unwrap(), ka);
    }
}
