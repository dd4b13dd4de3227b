//! [`SqliteStore`]: every interface kept in one SQLite file, shared by the processes of one
//! machine and surviving restarts.

mod pubsub;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::kv::ttl_millis;
use crate::log::LogEntry;
use crate::pubsub::Hub;
use crate::{AppendLog, KeyValue, StoreError};

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// How long a call waits for another process holding the file's write lock.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// At most how often expired keys are deleted (they are never returned meanwhile).
const SWEEP_EVERY_MS: i64 = 5_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_created_at ON messages (created_at);
CREATE TABLE IF NOT EXISTS log (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_seq (
    stream TEXT PRIMARY KEY,
    last INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The SQLite store: one connection (WAL mode) behind a mutex, used from Tokio's blocking
/// threads; tables are created on open. Expiry is a column (milliseconds since the Unix epoch)
/// checked by every read; expired rows are deleted at most every 5 s by writes.
///
/// Pub/sub works across the processes sharing the file: `publish` inserts into a `messages`
/// table, and one poller task per store (started by the first `subscribe`) reads new rows every
/// 50 ms, after a row-id cursor, and hands them to this process's subscribers; so delivery takes
/// up to ~50 ms. Messages are deleted 60 s after publishing (by `publish`, at most every 5 s).
///
/// The append log is a `log` table keyed by (stream, seq), with the last sequence number of each
/// stream kept in `log_seq` so numbers never repeat after a trim.
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    hub: Hub,
    /// `section: SQLite store <path>`, to start messages with.
    what: String,
    poller_started: AtomicBool,
    last_sweep: AtomicI64,
    last_prune: AtomicI64,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path`, for config section
    /// `section` (errors name it).
    pub async fn open(path: impl AsRef<Path>, section: &str) -> Result<SqliteStore, StoreError> {
        let path: PathBuf = path.as_ref().to_owned();
        let shown = path.display().to_string();
        let what = format!("{section}: SQLite store {shown}");
        let opened = tokio::task::spawn_blocking(move || open(&path))
            .await
            .map_err(|e| StoreError::Unavailable(format!("{what}: opening was cancelled: {e}")))?;
        let conn = match opened {
            Ok(conn) => conn,
            Err(Opened::Newer(v)) => {
                return Err(StoreError::Corrupt(format!(
                    "{what} was written by a newer Switchboard (schema {v}, this one knows \
                     {SCHEMA_VERSION}); upgrade, or point {section} at another file"
                )));
            }
            Err(Opened::Failed(e)) if is_corrupt(&e) => {
                return Err(StoreError::Corrupt(format!(
                    "{what} is not a readable SQLite database ({e}); move it aside to start afresh"
                )));
            }
            Err(Opened::Failed(e)) => {
                return Err(StoreError::Connect {
                    section: section.to_owned(),
                    backend: "SQLite",
                    url: shown,
                    reason: e.to_string(),
                });
            }
        };
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                hub: Hub::default(),
                what,
                poller_started: AtomicBool::new(false),
                last_sweep: AtomicI64::new(0),
                last_prune: AtomicI64::new(0),
            }),
        })
    }

    /// Whether the file answers a trivial query.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", |c, _| c.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    /// Runs `f` on the connection on a blocking thread; `op` names the call in errors.
    async fn run<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Inner) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.conn.lock();
            f(&mut conn, &inner).map_err(|e| inner.failed(op, &e))
        })
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!("{}: {op} was cancelled: {e}", self.inner.what))
        })?
    }
}

enum Opened {
    Newer(i64),
    Failed(rusqlite::Error),
}

impl From<rusqlite::Error> for Opened {
    fn from(e: rusqlite::Error) -> Self {
        Opened::Failed(e)
    }
}

fn open(path: &Path) -> Result<Connection, Opened> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_WAIT)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Opened::Newer(version));
    }
    conn.execute_batch(SCHEMA)?;
    if version < SCHEMA_VERSION {
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(conn)
}

fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

impl Inner {
    fn failed(&self, op: &str, e: &rusqlite::Error) -> StoreError {
        let what = &self.what;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Timeout(format!(
                    "{what}: {op} waited over {BUSY_WAIT:?} for another process holding the file"
                ))
            }
            _ if is_corrupt(e) => StoreError::Corrupt(format!(
                "{what} is damaged ({op}: {e}); move it aside to start afresh"
            )),
            _ => StoreError::Unavailable(format!("{what}: {op} failed: {e}")),
        }
    }

    /// Deletes expired keys, at most every [`SWEEP_EVERY_MS`].
    fn sweep(&self, c: &Connection, now: i64) -> rusqlite::Result<()> {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now - last >= SWEEP_EVERY_MS {
            self.last_sweep.store(now, Ordering::Relaxed);
            c.prepare_cached("DELETE FROM kv WHERE expires_at <= ?1")?
                .execute([now])?;
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch (the clock shared by the processes using the file).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn expires_at(now: i64, ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|ttl| now.saturating_add(ttl_millis(ttl)))
}

const LIVE_VALUE: &str =
    "SELECT value FROM kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)";
const UPSERT: &str = "INSERT INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl KeyValue for SqliteStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let key = key.to_owned();
        Box::pin(self.run("get", move |c, _| {
            c.prepare_cached(LIVE_VALUE)?
                .query_row(params![key, now_ms()], |r| r.get(0))
                .optional()
        }))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let key = key.to_owned();
        Box::pin(self.run("set", move |c, inner| {
            let now = now_ms();
            c.prepare_cached(UPSERT)?
                .execute(params![key, value, expires_at(now, ttl)])?;
            inner.sweep(c, now)
        }))
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let key = key.to_owned();
        Box::pin(self.run("set_if_absent", move |c, inner| {
            let now = now_ms();
            let changed = c
                .prepare_cached(
                    "INSERT INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE
                     SET value = excluded.value, expires_at = excluded.expires_at
                     WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?4",
                )?
                .execute(params![key, value, expires_at(now, ttl), now])?;
            inner.sweep(c, now)?;
            Ok(changed == 1)
        }))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let key = key.to_owned();
        Box::pin(self.run("delete", move |c, _| {
            let now = now_ms();
            let removed: Option<Option<i64>> = c
                .prepare_cached("DELETE FROM kv WHERE key = ?1 RETURNING expires_at")?
                .query_row([key], |r| r.get(0))
                .optional()?;
            Ok(removed.is_some_and(|at| at.is_none_or(|at| at > now)))
        }))
    }

    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a [u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let key = key.to_owned();
        let expected = expected.map(<[u8]>::to_vec);
        Box::pin(self.run("compare_and_swap", move |c, inner| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            let current: Option<Vec<u8>> = tx
                .prepare_cached(LIVE_VALUE)?
                .query_row(params![key, now], |r| r.get(0))
                .optional()?;
            if current != expected {
                return Ok(false);
            }
            match new {
                Some(value) => {
                    tx.prepare_cached(UPSERT)?
                        .execute(params![key, value, expires_at(now, ttl)])?
                }
                None => tx
                    .prepare_cached("DELETE FROM kv WHERE key = ?1")?
                    .execute([key])?,
            };
            inner.sweep(&tx, now)?;
            tx.commit()?;
            Ok(true)
        }))
    }
}

impl AppendLog for SqliteStore {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let stream = stream.to_owned();
        Box::pin(self.run("append", move |c, _| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let seq: i64 = tx
                .prepare_cached(
                    "INSERT INTO log_seq (stream, last) VALUES (?1, 1)
                     ON CONFLICT (stream) DO UPDATE SET last = last + 1 RETURNING last",
                )?
                .query_row([&stream], |r| r.get(0))?;
            tx.prepare_cached("INSERT INTO log (stream, seq, payload) VALUES (?1, ?2, ?3)")?
                .execute(params![stream, seq, payload])?;
            tx.commit()?;
            Ok(u64::try_from(seq).unwrap_or(0))
        }))
    }

    fn read<'a>(
        &'a self,
        stream: &'a str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, StoreError>> {
        let stream = stream.to_owned();
        Box::pin(self.run("read", move |c, _| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut stmt = c.prepare_cached(
                "SELECT seq, payload FROM log WHERE stream = ?1 AND seq > ?2
                 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![stream, to_i64(after), limit], |r| {
                Ok((u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), r.get(1)?))
            })?;
            rows.collect()
        }))
    }

    fn trim<'a>(
        &'a self,
        stream: &'a str,
        keep_after: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let stream = stream.to_owned();
        Box::pin(self.run("trim", move |c, _| {
            c.prepare_cached("DELETE FROM log WHERE stream = ?1 AND seq <= ?2")?
                .execute(params![stream, to_i64(keep_after)])?;
            Ok(())
        }))
    }
}
