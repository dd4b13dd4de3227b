//! Replicas sharing state through Redis (`cluster:`), so a load balancer may send any request
//! to any replica, with no affinity:
//!
//! - **session records** (`sessions.rs`): what a session-era (2025-11-25 and earlier) session
//!   is — who opened it, the negotiated version, the client's capabilities and info, its log
//!   level — written when it opens or changes, read by a replica that gets a request for a
//!   session it has not seen (another replica opened it, or died), which then serves it under
//!   the same id;
//! - **answers to server→client requests** (`answers.rs`): a session-era client answers the
//!   gateway's request (elicitation, sampling, roots) with a new POST, which the balancer may
//!   send to any replica; the replica that sent the request is recorded with it, and another
//!   replica receiving the answer passes it on over the store's pub/sub;
//! - **the `requestState` signing key**: made once by the first replica and read by the
//!   others, so an `input_required` round started on one replica verifies on another (when
//!   `mrtr.keys` is not configured).
//!
//! What stays per replica, and why, is in docs/deploy.md.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod letters;
mod sessions;
mod subscriptions;

use std::sync::Arc;
use std::time::Duration;

use switchboard_config::ClusterConfig;
use switchboard_store::redis::AsyncCommands;
use switchboard_store::{RedisConn, RedisStore};

pub use letters::{Letter, Letters};
pub use sessions::SessionRecord;

/// How long a store operation may take before it counts as failed (a slow Redis must not hold
/// a request for long).
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster store: {0}")]
    Store(String),
    #[error("cluster store: no answer within {0:?}")]
    Timeout(Duration),
    #[error("cluster store: a session record that is not valid JSON: {0}")]
    Corrupt(String),
}

/// This replica's handle on the shared store.
#[derive(Clone)]
pub struct Cluster {
    /// The connection (`store.conn()`), and pub/sub between replicas (its own subscriber
    /// connection, made on first use).
    store: Arc<RedisStore>,
    prefix: String,
    replica: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("replica", &self.replica)
            .field("store", &self.store.conn().url())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Connect to the configured store (errors name `cluster.url`).
    pub async fn connect(cfg: &ClusterConfig) -> Result<Cluster, String> {
        let conn = RedisConn::connect(&cfg.url, "cluster")
            .await
            .map_err(|e| e.to_string().replace("cluster.redis_url", "cluster.url"))?;
        let replica = cfg.replica_id.clone().unwrap_or_else(default_replica_id);
        tracing::info!(replica = %replica, store = %conn.url(), "cluster: sharing sessions and keys with other replicas");
        Ok(Cluster {
            store: Arc::new(RedisStore::new(conn, &cfg.key_prefix)),
            prefix: cfg.key_prefix.clone(),
            replica,
        })
    }

    /// This replica's name.
    pub fn replica_id(&self) -> &str {
        &self.replica
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// A secret shared by every replica under `name`: made (32 random bytes) by the first
    /// replica that asks, read by the others. Kept without expiry.
    pub async fn shared_secret(&self, name: &str) -> Result<Vec<u8>, ClusterError> {
        let key = self.key("secret", name);
        let mut conn = self.store.conn().manager();
        let fresh: [u8; 32] = rand::random();
        let made: bool = bounded(
            switchboard_store::redis::cmd("SET")
                .arg(&key)
                .arg(&fresh[..])
                .arg("NX")
                .query_async::<Option<String>>(&mut conn),
        )
        .await?
        .is_some();
        if made {
            return Ok(fresh.to_vec());
        }
        let kept: Option<Vec<u8>> = bounded(conn.get(&key)).await?;
        kept.filter(|k| k.len() >= 32)
            .ok_or_else(|| ClusterError::Store(format!("{key} holds no usable secret")))
    }

    /// `PING` (readiness).
    pub async fn ping(&self, within: Duration) -> Result<(), String> {
        self.store.conn().ping(within).await
    }
}

/// Run a store command within [`STORE_TIMEOUT`].
async fn bounded<T>(
    f: impl std::future::Future<Output = Result<T, switchboard_store::redis::RedisError>>,
) -> Result<T, ClusterError> {
    match tokio::time::timeout(STORE_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ClusterError::Store(e.to_string())),
        Err(_) => Err(ClusterError::Timeout(STORE_TIMEOUT)),
    }
}

/// The host name (`HOSTNAME`, else the kernel's) and this process's id.
fn default_replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "replica".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod test_support {
    use switchboard_config::{ClusterConfig, ClusterStore};

    use crate::Cluster;

    /// Replica `id` on the Redis on 127.0.0.1:6379 (`.ci/setup` starts it), keys under
    /// `prefix`.
    pub(crate) async fn replica(prefix: &str, id: &str) -> Cluster {
        Cluster::connect(&ClusterConfig {
            store: ClusterStore::Redis,
            url: "redis://127.0.0.1:6379".into(),
            replica_id: Some(id.into()),
            key_prefix: prefix.into(),
        })
        .await
        .expect("Redis on 127.0.0.1:6379")
    }
}
