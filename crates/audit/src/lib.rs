//! The audit trail: one record per request, append-only, each chained to the previous by
//! SHA-256 (`hash = sha256(prev ‖ record)`), so an edited, removed or reordered record breaks
//! the chain (`switchboard audit verify`).
//!
//! A request's record is acknowledged (and the request answered) only once it is on disk
//! where a crash of the gateway cannot lose it. With the SQLite sink that is the *journal*:
//! each commit appends the records as JSON lines to `<path>.pending` in one `write(2)`, and a
//! background thread moves them into the database in batches (one transaction per tick), so a
//! call pays one system call instead of a SQLite transaction. A gateway that crashed leaves
//! the journal behind; the next start (and `audit tail|search|verify` meanwhile) reads it.
//! With `fsync: true` a dedicated thread commits straight to the database (`synchronous=FULL`)
//! or syncs the JSONL file. Concurrent requests share one commit (group commit).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use switchboard_config::{AuditConfig, AuditSink};
use switchboard_store::hex;
use tokio::sync::{mpsc, oneshot};

mod commit;
mod format;
mod journal;
mod read;
mod record;
mod sink;

use commit::{Sink, commit, writer};
use journal::{Importer, Journal};
pub use read::read;
pub use record::{Broken, GENESIS, Record, redact, verify};
use sink::{JsonlSink, SqliteSink};

/// Longest argument text kept in a record.
const MAX_ARGS: usize = 4096;

struct Entry {
    record: Record,
    ack: Option<oneshot::Sender<()>>,
}

/// The audit trail of a running gateway; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    writer: Option<Writer>,
    redact: Arc<Vec<String>>,
    record_arguments: bool,
    /// The file's lock, held while any clone lives (see [`lock`]).
    _lock: Option<Arc<std::fs::File>>,
}

/// Who commits records.
#[derive(Clone)]
enum Writer {
    /// A dedicated thread (`fsync: true`: a commit may take milliseconds, which must not block
    /// the async workers).
    Thread(mpsc::UnboundedSender<Entry>),
    /// Leader-based group commit on the caller's thread: a request queues its record, and
    /// whoever finds the sink free commits everything queued (its own and others'), so a lone
    /// request pays no thread hand-off and concurrent ones share a commit.
    Inline(Arc<Inline>),
}

struct Inline {
    queue: parking_lot::Mutex<Vec<Entry>>,
    sink: parking_lot::Mutex<Sink>,
    /// The database the journal is moved into (SQLite sink only).
    importer: Option<Arc<Importer>>,
}

impl Inline {
    /// Commit what is queued if nobody else is; loops so that nothing queued while this
    /// leader held the sink is left behind.
    fn lead(&self) {
        loop {
            let Some(mut sink) = self.sink.try_lock() else {
                return;
            };
            loop {
                let batch = std::mem::take(&mut *self.queue.lock());
                if batch.is_empty() {
                    break;
                }
                commit(&mut sink, batch);
            }
            drop(sink);
            if self.queue.lock().is_empty() {
                return;
            }
        }
    }

    /// Move the journal's records into the database. The importer holds the sink briefly (to
    /// rotate the journal); a request that found it busy then left its record queued for the
    /// holder, so the importer commits the queue once it lets go.
    fn flush(&self) {
        if let Some(importer) = &self.importer {
            let rotate = || match &mut *self.sink.lock() {
                Sink::Journal(j) => j.rotate(),
                _ => Ok(None),
            };
            importer.flush(rotate, || self.lead());
        }
    }
}

impl Drop for Inline {
    fn drop(&mut self) {
        self.flush();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("audit file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audit file {path}, line {line}: {why}")]
    Parse {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error(
        "audit journal {path} does not continue the database's chain ({why}); move it away to start, and keep it as evidence"
    )]
    Journal { path: PathBuf, why: String },
    #[error(
        "audit file {path} is being written by another process ({holder}); two writers would break each other's hash chain: give every gateway (every replica) its own audit.path"
    )]
    Locked { path: PathBuf, holder: String },
}

/// The lock file next to an audit file.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Take the lock of the audit file `path`: an exclusive advisory lock on `<path>.lock`, which
/// says which process holds it. The kernel releases it when the process ends, however it ends.
fn lock(path: &Path) -> Result<std::fs::File, AuditError> {
    use std::io::{Read, Seek, Write};
    let lock = lock_path(path);
    let io = |source| AuditError::Io {
        path: lock.clone(),
        source,
    };
    if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            let me = format!("pid {} on {}", std::process::id(), host());
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            file.write_all(me.as_bytes()).map_err(io)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(AuditError::Locked {
                path: path.to_owned(),
                holder: if holder.trim().is_empty() {
                    "unknown".into()
                } else {
                    holder.trim().to_owned()
                },
            })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "this host".into())
}

/// Who holds the lock of the audit file `cfg` names, if another process does (a running
/// gateway): the commands that start a gateway of their own (`check`, `tools`, `call`) then
/// run without an audit trail rather than fork the running one's chain.
pub fn held_elsewhere(cfg: &AuditConfig) -> Option<String> {
    if matches!(cfg.sink, AuditSink::Stdout) {
        return None;
    }
    match lock(Path::new(&cfg.path)) {
        Err(AuditError::Locked { holder, .. }) => Some(holder),
        _ => None,
    }
}

/// How often the journal is moved into the database.
const IMPORT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

impl Audit {
    /// No audit trail.
    pub fn off() -> Self {
        Self {
            writer: None,
            redact: Arc::default(),
            record_arguments: false,
            _lock: None,
        }
    }

    /// Open the configured sink (recovering a journal a crashed gateway left) and start its
    /// writer or importer thread.
    pub fn open(cfg: &AuditConfig, stdout_allowed: bool) -> Result<Self, AuditError> {
        let path = Path::new(&cfg.path);
        let spawn_err = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        let mut importer = None;
        let held = match cfg.sink {
            AuditSink::Stdout => None,
            AuditSink::Sqlite | AuditSink::Jsonl => Some(Arc::new(lock(path)?)),
        };
        let sink = match cfg.sink {
            AuditSink::Sqlite if cfg.fsync => Sink::Sqlite(SqliteSink::open(path, true)?),
            AuditSink::Sqlite => {
                let mut db = SqliteSink::open(path, false)?;
                let journal = Journal::open(path, &mut db)?;
                importer = Some(Arc::new(Importer {
                    db: parking_lot::Mutex::new(db),
                }));
                Sink::Journal(journal)
            }
            AuditSink::Jsonl => Sink::Jsonl(JsonlSink::open(path, cfg.fsync)?),
            AuditSink::Stdout => {
                if !stdout_allowed {
                    tracing::warn!(
                        "audit sink `stdout` is not available in stdio mode (stdout carries MCP); writing audit records to stderr"
                    );
                }
                Sink::Stream {
                    stdout: stdout_allowed,
                    prev: GENESIS.to_owned(),
                    seq: 0,
                }
            }
        };
        let writer = if cfg.fsync {
            let (tx, rx) = mpsc::unbounded_channel();
            std::thread::Builder::new()
                .name("switchboard-audit".into())
                .spawn(move || writer(sink, rx))
                .map_err(spawn_err)?;
            Writer::Thread(tx)
        } else {
            let inline = Arc::new(Inline {
                queue: parking_lot::Mutex::new(Vec::new()),
                sink: parking_lot::Mutex::new(sink),
                importer,
            });
            if inline.importer.is_some() {
                // Holds the trail weakly: when the gateway lets go, the last flush is `Drop`'s.
                let weak = Arc::downgrade(&inline);
                std::thread::Builder::new()
                    .name("switchboard-audit-import".into())
                    .spawn(move || {
                        loop {
                            std::thread::sleep(IMPORT_EVERY);
                            match weak.upgrade() {
                                Some(inline) => inline.flush(),
                                None => return,
                            }
                        }
                    })
                    .map_err(spawn_err)?;
            }
            Writer::Inline(inline)
        };
        Ok(Self {
            writer: Some(writer),
            redact: Arc::new(cfg.redact.iter().map(|s| s.to_ascii_lowercase()).collect()),
            record_arguments: cfg.record_arguments,
            _lock: held,
        })
    }

    pub fn enabled(&self) -> bool {
        self.writer.is_some()
    }

    /// Move every journalled record into the database now (graceful shutdown).
    pub fn flush(&self) {
        if let Some(Writer::Inline(i)) = &self.writer {
            i.flush();
        }
    }

    fn submit(&self, entry: Entry) -> bool {
        match &self.writer {
            None => false,
            Some(Writer::Thread(tx)) => tx.send(entry).is_ok(),
            Some(Writer::Inline(i)) => {
                i.queue.lock().push(entry);
                i.lead();
                true
            }
        }
    }

    /// Fill `args_sha256` and (if kept) `args` from a request's arguments, redacted.
    pub fn arguments(&self, record: &mut Record, arguments: Option<&serde_json::Value>) {
        let Some(args) = arguments else { return };
        let text = if self.redact.is_empty() || !has_secret_key(args, &self.redact) {
            serde_json::to_string(args).unwrap_or_default()
        } else {
            let mut args = args.clone();
            redact(&mut args, &self.redact);
            serde_json::to_string(&args).unwrap_or_default()
        };
        record.args_sha256 = Some(hex(&Sha256::digest(text.as_bytes())));
        if self.record_arguments {
            let mut t = text;
            if t.len() > MAX_ARGS {
                let mut cut = MAX_ARGS;
                while !t.is_char_boundary(cut) {
                    cut -= 1;
                }
                t.truncate(cut);
                t.push('…');
            }
            record.args = Some(t);
        }
    }

    /// Append a record and wait until it is committed.
    pub async fn log(&self, mut record: Record) {
        if !self.enabled() {
            return;
        }
        record.time = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let (ack, done) = oneshot::channel();
        if !self.submit(Entry {
            record,
            ack: Some(ack),
        }) {
            tracing::error!("audit writer is gone; record lost");
            return;
        }
        let _ = done.await;
    }

    /// Append a record without waiting (edge refusals, where nothing was done).
    pub fn log_nowait(&self, mut record: Record) {
        if !self.enabled() {
            return;
        }
        record.time = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        self.submit(Entry { record, ack: None });
    }
}

/// Whether any key at any depth would be redacted (most arguments have none: no copy then).
fn has_secret_key(value: &serde_json::Value, keys: &[String]) -> bool {
    match value {
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| {
            let lower = k.to_ascii_lowercase();
            keys.iter().any(|s| lower.contains(s.as_str())) || has_secret_key(v, keys)
        }),
        serde_json::Value::Array(items) => items.iter().any(|v| has_secret_key(v, keys)),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
