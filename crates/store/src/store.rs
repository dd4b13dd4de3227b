//! [`Store`]: the three interfaces of one backend, bundled, with a constructor per backend.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    AppendLog, KeyValue, MemoryStore, PubSub, RedisConn, RedisStore, SqliteStore, StoreError,
};

/// The key-value, pub/sub and append-log interfaces of one backend. Cheap to clone (clones
/// share the backend).
#[derive(Clone)]
pub struct Store {
    kv: Arc<dyn KeyValue>,
    pubsub: Arc<dyn PubSub>,
    log: Arc<dyn AppendLog>,
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Memory,
    Sqlite(Arc<SqliteStore>),
    Redis(Arc<RedisStore>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store in this process's memory: one replica only, nothing survives a restart.
    pub fn memory() -> Store {
        let store = Arc::new(MemoryStore::new());
        Store {
            kv: store.clone(),
            pubsub: store.clone(),
            log: store,
            backend: Backend::Memory,
        }
    }

    /// The store in the SQLite file at `path` (created if missing), for config section
    /// `section`: shared by the processes of one machine, survives restarts.
    pub async fn sqlite(path: impl AsRef<Path>, section: &str) -> Result<Store, StoreError> {
        let store = Arc::new(SqliteStore::open(path, section).await?);
        Ok(Store {
            kv: store.clone(),
            pubsub: store.clone(),
            log: store.clone(),
            backend: Backend::Sqlite(store),
        })
    }

    /// The store in Redis at `url`, its keys prefixed by `prefix`, for config section
    /// `section`; fails when Redis does not answer within 5 s.
    pub async fn redis(url: &str, prefix: &str, section: &str) -> Result<Store, StoreError> {
        Ok(Store::on_redis(
            RedisConn::connect(url, section).await?,
            prefix,
        ))
    }

    /// The store on an open Redis connection (e.g. one shared with other users of the same
    /// Redis), its keys prefixed by `prefix`.
    pub fn on_redis(conn: RedisConn, prefix: &str) -> Store {
        let store = Arc::new(RedisStore::new(conn, prefix));
        Store {
            kv: store.clone(),
            pubsub: store.clone(),
            log: store.clone(),
            backend: Backend::Redis(store),
        }
    }

    /// The key-value interface.
    pub fn kv(&self) -> &Arc<dyn KeyValue> {
        &self.kv
    }

    /// The pub/sub interface.
    pub fn pubsub(&self) -> &Arc<dyn PubSub> {
        &self.pubsub
    }

    /// The append-log interface.
    pub fn log(&self) -> &Arc<dyn AppendLog> {
        &self.log
    }

    /// The Redis backend, if this is one (for tests reaching into it).
    #[cfg(test)]
    pub(crate) fn redis_backend(&self) -> Option<&Arc<RedisStore>> {
        match &self.backend {
            Backend::Redis(store) => Some(store),
            _ => None,
        }
    }

    /// `memory`, `sqlite` or `redis`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Memory => "memory",
            Backend::Sqlite(_) => "sqlite",
            Backend::Redis(_) => "redis",
        }
    }

    /// Whether the backend answers (a readiness check), bounded by `within`.
    pub async fn ping(&self, within: Duration) -> Result<(), String> {
        match &self.backend {
            Backend::Memory => Ok(()),
            Backend::Redis(store) => store.conn().ping(within).await,
            Backend::Sqlite(store) => match tokio::time::timeout(within, store.ping()).await {
                Ok(answer) => answer.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {within:?}")),
            },
        }
    }
}
