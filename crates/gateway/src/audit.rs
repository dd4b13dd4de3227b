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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_config::{AuditConfig, AuditSink};
use tokio::sync::{mpsc, oneshot};

/// One audit record, as stored. Field order is part of the hash: do not reorder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Record {
    pub seq: u64,
    pub time: String,
    pub subject: String,
    pub role: Option<String>,
    pub auth: String,
    pub client_ip: Option<String>,
    pub transport: String,
    pub method: String,
    pub target: Option<String>,
    /// `ok`, `error`, `denied`, `rate_limited`, `unauthenticated`.
    pub outcome: String,
    pub error_code: Option<i64>,
    pub latency_us: u64,
    pub args_sha256: Option<String>,
    pub args: Option<String>,
    pub prev: String,
    pub hash: String,
}

/// The hash before the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Lower-case hex (digests on the request path: no formatting machinery).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

impl Record {
    /// The chained hash of this record (over every field but `hash`, and `prev`).
    pub fn compute_hash(&self) -> String {
        let mut body = self.clone();
        body.hash = String::new();
        let json = serde_json::to_string(&body).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(self.prev.as_bytes());
        h.update(b"\n");
        h.update(json.as_bytes());
        hex(&h.finalize())
    }
}

/// What is wrong with a chain.
#[derive(Debug, PartialEq, Eq)]
pub struct Broken {
    pub seq: u64,
    pub why: String,
}

/// Check a chain in order: contiguous sequence numbers, each `prev` the previous `hash`, each
/// `hash` recomputed. Returns the records checked and the last hash.
pub fn verify<'a>(records: impl IntoIterator<Item = &'a Record>) -> Result<(u64, String), Broken> {
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = None;
    let mut n = 0;
    for r in records {
        if let Some(e) = expected_seq
            && r.seq != e
        {
            return Err(Broken {
                seq: r.seq,
                why: format!("expected record {e} next: records were removed or reordered"),
            });
        }
        if r.prev != prev {
            return Err(Broken {
                seq: r.seq,
                why: "its `prev` is not the previous record's hash: records were removed, inserted or reordered".into(),
            });
        }
        if r.compute_hash() != r.hash {
            return Err(Broken {
                seq: r.seq,
                why: "its content does not match its hash: the record was edited".into(),
            });
        }
        prev = r.hash.clone();
        expected_seq = Some(r.seq + 1);
        n += 1;
    }
    Ok((n, prev))
}

/// Replace the values of secret-looking keys, recursively.
pub fn redact(value: &mut serde_json::Value, keys: &[String]) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let lower = k.to_ascii_lowercase();
                if keys.iter().any(|s| lower.contains(s.as_str())) {
                    *v = serde_json::Value::String("[REDACTED]".into());
                } else {
                    redact(v, keys);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| redact(v, keys)),
        _ => {}
    }
}

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
            importer.flush(&self.sink, || self.lead());
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

enum Sink {
    /// SQLite through the journal (the default).
    Journal(Journal),
    /// SQLite, one transaction per commit (`fsync: true`).
    Sqlite(SqliteSink),
    Jsonl(JsonlSink),
    /// JSON lines on stdout (or stderr).
    Stream {
        stdout: bool,
        prev: String,
        seq: u64,
    },
}

/// Most records per commit.
const BATCH: usize = 512;

fn writer(mut sink: Sink, mut rx: mpsc::UnboundedReceiver<Entry>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        commit(&mut sink, batch);
    }
}

/// Append a batch and acknowledge its records once it is committed.
fn commit(sink: &mut Sink, batch: Vec<Entry>) {
    let n = batch.len();
    let (records, acks): (Vec<Record>, Vec<_>) =
        batch.into_iter().map(|e| (e.record, e.ack)).unzip();
    let result = match sink {
        Sink::Journal(j) => j.append(records),
        Sink::Sqlite(s) => {
            let mut records = records;
            s.append(&mut records)
        }
        Sink::Jsonl(s) => s.append(records),
        Sink::Stream { stdout, prev, seq } => {
            let mut out = String::new();
            for mut r in records {
                out.push_str(&chain(&mut r, prev, seq));
                out.push('\n');
            }
            use std::io::Write;
            let _ = if *stdout {
                std::io::stdout().write_all(out.as_bytes())
            } else {
                std::io::stderr().write_all(out.as_bytes())
            };
            Ok(())
        }
    };
    if let Err(e) = result {
        // Not acknowledged: the requests waiting on these records learn nothing was kept,
        // and the log says why. (Their acks are dropped.)
        tracing::error!(error = %e, records = n, "audit records could not be written");
        return;
    }
    for ack in acks.into_iter().flatten() {
        let _ = ack.send(());
    }
}

/// Give `r` the next sequence number and its place in the chain; returns its JSON line
/// (without the newline). The record is serialized once: its hash covers the JSON with an
/// empty `hash` (the last field), which the line then completes.
fn chain(r: &mut Record, prev: &mut String, seq: &mut u64) -> String {
    *seq += 1;
    r.seq = *seq;
    r.prev.clone_from(prev);
    r.hash.clear();
    let mut json = serde_json::to_string(&*r).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(json.as_bytes());
    r.hash = hex(&h.finalize());
    debug_assert!(json.ends_with(r#""hash":""}"#));
    json.truncate(json.len() - 2);
    json.push_str(&r.hash);
    json.push_str("\"}");
    prev.clone_from(&r.hash);
    json
}

/// The records a crashed (or still running) gateway left in the journal files of `db`:
/// older segments first, then the live journal. A last line cut short by a crash was never
/// acknowledged and is skipped.
fn journal_records(db: &Path) -> Result<Vec<(PathBuf, Vec<Record>)>, AuditError> {
    let mut files = Journal::segments(db)?;
    files.push((u64::MAX, Journal::live_path(db)));
    let mut out = Vec::new();
    for (_, path) in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(AuditError::Io { path, source }),
        };
        let complete = text.rfind('\n').map_or("", |i| &text[..i]);
        let records = complete
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| AuditError::Parse {
                    path: path.clone(),
                    line: i + 1,
                    why: e.to_string(),
                })
            })
            .collect::<Result<Vec<Record>, _>>()?;
        out.push((path, records));
    }
    Ok(out)
}

/// The SQLite sink's journal: records are acknowledged once appended here.
struct Journal {
    path: PathBuf,
    file: std::fs::File,
    /// Bytes written, to cut a failed append back to whole lines.
    len: u64,
    prev: String,
    seq: u64,
    /// Appended but not yet handed to the importer.
    staged: Vec<Record>,
}

impl Journal {
    fn live_path(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push(".pending");
        PathBuf::from(p)
    }

    /// Journal segments handed to the importer (`<db>.pending.<first seq>`), in order.
    fn segments(db: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
        let live = Self::live_path(db);
        let dir = match live.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let Some(stem) = live
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| format!("{n}."))
        else {
            return Ok(Vec::new());
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(source) => return Err(AuditError::Io { path: dir, source }),
        };
        let mut out: Vec<(u64, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_owned();
                let n = name.strip_prefix(&stem)?.parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Move what a previous run left into `db`, then start an empty journal.
    fn open(db_path: &Path, db: &mut SqliteSink) -> Result<Self, AuditError> {
        for (path, records) in journal_records(db_path)? {
            db.insert(&records).map_err(|e| match e {
                AuditError::Journal { why, .. } => AuditError::Journal {
                    path: path.clone(),
                    why,
                },
                e => e,
            })?;
            if !records.is_empty() {
                tracing::warn!(path = %path.display(), records = records.len(), "audit: recovered records a previous run left in its journal");
            }
            std::fs::remove_file(&path).map_err(|source| AuditError::Io {
                path: path.clone(),
                source,
            })?;
        }
        let path = Self::live_path(db_path);
        let file = Self::create(&path)?;
        Ok(Self {
            path,
            file,
            len: 0,
            prev: db.prev.clone(),
            seq: db.seq,
            staged: Vec::new(),
        })
    }

    fn create(path: &Path) -> Result<std::fs::File, AuditError> {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        opts.open(path).map_err(|source| AuditError::Io {
            path: path.to_owned(),
            source,
        })
    }

    fn append(&mut self, mut records: Vec<Record>) -> Result<(), AuditError> {
        use std::io::Write;
        let (mut prev, mut seq) = (self.prev.clone(), self.seq);
        let mut out = String::new();
        for r in &mut records {
            out.push_str(&chain(r, &mut prev, &mut seq));
            out.push('\n');
        }
        if let Err(source) = self.file.write_all(out.as_bytes()) {
            // A partial line would corrupt the next; cut back to what was whole.
            let _ = self.file.set_len(self.len);
            return Err(AuditError::Io {
                path: self.path.clone(),
                source,
            });
        }
        self.len += out.len() as u64;
        (self.prev, self.seq) = (prev, seq);
        self.staged.append(&mut records);
        Ok(())
    }

    /// Hand the staged records to the importer: the live file becomes a numbered segment and
    /// a fresh one takes its place. `None` when nothing is staged.
    fn rotate(&mut self) -> Result<Option<(PathBuf, Vec<Record>)>, AuditError> {
        let Some(first) = self.staged.first().map(|r| r.seq) else {
            return Ok(None);
        };
        let mut segment = self.path.as_os_str().to_owned();
        segment.push(format!(".{first}"));
        let segment = PathBuf::from(segment);
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        std::fs::rename(&self.path, &segment).map_err(io)?;
        match Self::create(&self.path) {
            Ok(f) => self.file = f,
            Err(e) => {
                // Keep appending to the renamed file (still open); the importer reads it.
                tracing::error!(error = %e, "audit: could not start a new journal");
                let _ = std::fs::rename(&segment, &self.path);
                return Err(e);
            }
        }
        self.len = 0;
        Ok(Some((segment, std::mem::take(&mut self.staged))))
    }
}

/// Moves journal segments into the database.
struct Importer {
    db: parking_lot::Mutex<SqliteSink>,
}

impl Importer {
    /// Take what is staged (the database lock first, so segments go in in order; `released`
    /// runs as soon as the sink is free again), insert it
    /// in one transaction, then delete the segment. A failed import leaves the segment on disk
    /// and is retried from it, together with any later one, at the next flush.
    fn flush(&self, sink: &parking_lot::Mutex<Sink>, released: impl FnOnce()) {
        let mut db = self.db.lock();
        let rotated = match &mut *sink.lock() {
            Sink::Journal(j) => j.rotate(),
            _ => Ok(None),
        };
        released();
        let (db_path, fresh) = match rotated {
            Ok(r) => (db.path.clone(), r),
            Err(e) => {
                tracing::error!(error = %e, "audit: journal rotation failed");
                return;
            }
        };
        let leftover = match Journal::segments(&db_path) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "audit: cannot list journal segments");
                return;
            }
        };
        let mut fresh = fresh;
        for (_, path) in leftover {
            let records = match fresh.take_if(|(p, _)| *p == path) {
                Some((_, records)) => Ok(records),
                None => read_segment(&path),
            };
            let done = records.and_then(|r| db.insert(&r));
            match done {
                Ok(()) => {
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::error!(error = %e, path = %path.display(), "audit: cannot remove an imported journal segment");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "audit: journal segment not imported; retrying at the next flush");
                    return;
                }
            }
        }
    }
}

fn read_segment(path: &Path) -> Result<Vec<Record>, AuditError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuditError::Io {
        path: path.to_owned(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| AuditError::Parse {
                path: path.to_owned(),
                line: i + 1,
                why: e.to_string(),
            })
        })
        .collect()
}

struct SqliteSink {
    path: PathBuf,
    conn: rusqlite::Connection,
    prev: String,
    seq: u64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL, subject TEXT NOT NULL, role TEXT, auth TEXT NOT NULL, client_ip TEXT,
    transport TEXT NOT NULL, method TEXT NOT NULL, target TEXT, outcome TEXT NOT NULL,
    error_code INTEGER, latency_us INTEGER NOT NULL, args_sha256 TEXT, args TEXT,
    prev TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

const COLUMNS: &str = "seq, time, subject, role, auth, client_ip, transport, method, target, outcome, error_code, latency_us, args_sha256, args, prev, hash";

impl SqliteSink {
    fn open(path: &Path, fsync: bool) -> Result<Self, AuditError> {
        let err = |source| AuditError::Sqlite {
            path: path.to_owned(),
            source,
        };
        let conn = rusqlite::Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        let (seq, prev) = conn
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
            )
            .map(|(s, h)| (u64::try_from(s).unwrap_or(0), h))
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok((0, GENESIS.to_owned())),
                e => Err(err(e)),
            })?;
        Ok(Self {
            path: path.to_owned(),
            conn,
            prev,
            seq,
        })
    }

    /// Chain and insert new records (one transaction).
    fn append(&mut self, records: &mut [Record]) -> Result<(), AuditError> {
        let (mut prev, mut seq) = (self.prev.clone(), self.seq);
        for r in records.iter_mut() {
            chain(r, &mut prev, &mut seq);
        }
        self.insert(records)
    }

    /// Insert records chained elsewhere (the journal), in one transaction. Records already in
    /// the database (a recovery repeated after a crash) are skipped; the rest must continue
    /// the chain exactly.
    fn insert(&mut self, records: &[Record]) -> Result<(), AuditError> {
        let err = |source| AuditError::Sqlite {
            path: self.path.clone(),
            source,
        };
        let (mut prev, mut seq) = (self.prev.clone(), self.seq);
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"
                ))
                .map_err(err)?;
            for r in records.iter().filter(|r| r.seq > self.seq) {
                if r.seq != seq + 1 || r.prev != prev {
                    return Err(AuditError::Journal {
                        path: self.path.clone(),
                        why: format!(
                            "record {} follows record {seq} with prev {}…",
                            r.seq,
                            prev.get(..12).unwrap_or(&prev)
                        ),
                    });
                }
                stmt.execute(rusqlite::params![
                    i64::try_from(r.seq).unwrap_or(i64::MAX),
                    r.time,
                    r.subject,
                    r.role,
                    r.auth,
                    r.client_ip,
                    r.transport,
                    r.method,
                    r.target,
                    r.outcome,
                    r.error_code,
                    i64::try_from(r.latency_us).unwrap_or(i64::MAX),
                    r.args_sha256,
                    r.args,
                    r.prev,
                    r.hash,
                ])
                .map_err(err)?;
                prev.clone_from(&r.hash);
                seq = r.seq;
            }
        }
        tx.commit().map_err(err)?;
        (self.prev, self.seq) = (prev, seq);
        Ok(())
    }
}

fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        time: r.get(1)?,
        subject: r.get(2)?,
        role: r.get(3)?,
        auth: r.get(4)?,
        client_ip: r.get(5)?,
        transport: r.get(6)?,
        method: r.get(7)?,
        target: r.get(8)?,
        outcome: r.get(9)?,
        error_code: r.get(10)?,
        latency_us: u64::try_from(r.get::<_, i64>(11)?).unwrap_or(0),
        args_sha256: r.get(12)?,
        args: r.get(13)?,
        prev: r.get(14)?,
        hash: r.get(15)?,
    })
}

/// The database's records followed by those still in its journal. A running gateway may move
/// a segment into the database between the two reads; a read that sees a gap is repeated.
fn read_sqlite(path: &Path) -> Result<Vec<Record>, AuditError> {
    let err = |source| AuditError::Sqlite {
        path: path.to_owned(),
        source,
    };
    let mut attempts = 0;
    loop {
        let journal = journal_records(path)?;
        let conn =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(err)?;
        let mut stmt = conn
            .prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"))
            .map_err(err)?;
        let mut all = stmt
            .query_map([], row_to_record)
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let last = all.last().map_or(0, |r| r.seq);
        let pending: Vec<Record> = journal
            .into_iter()
            .flat_map(|(_, records)| records)
            .filter(|r| r.seq > last)
            .collect();
        let gap = pending.first().is_some_and(|r| r.seq != last + 1);
        attempts += 1;
        if !gap || attempts == 5 {
            all.extend(pending);
            return Ok(all);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Read records from an audit database or JSONL file (by extension or content), oldest first,
/// optionally filtered by a substring of subject, method, target or outcome.
pub fn read(path: &Path, filter: Option<&str>) -> Result<Vec<Record>, AuditError> {
    let is_sqlite = std::fs::read(path)
        .map(|b| b.starts_with(b"SQLite format 3"))
        .map_err(|source| AuditError::Io {
            path: path.to_owned(),
            source,
        })?;
    let all = if is_sqlite {
        read_sqlite(path)?
    } else {
        let text = std::fs::read_to_string(path).map_err(|source| AuditError::Io {
            path: path.to_owned(),
            source,
        })?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| AuditError::Parse {
                    path: path.to_owned(),
                    line: i + 1,
                    why: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(match filter {
        None => all,
        Some(f) => all
            .into_iter()
            .filter(|r| {
                r.subject.contains(f)
                    || r.method.contains(f)
                    || r.outcome.contains(f)
                    || r.target.as_deref().is_some_and(|t| t.contains(f))
            })
            .collect(),
    })
}

struct JsonlSink {
    path: PathBuf,
    file: std::fs::File,
    fsync: bool,
    prev: String,
    seq: u64,
}

impl JsonlSink {
    fn open(path: &Path, fsync: bool) -> Result<Self, AuditError> {
        let (prev, seq) = match read(path, None) {
            Ok(records) => records
                .last()
                .map_or((GENESIS.to_owned(), 0), |r| (r.hash.clone(), r.seq)),
            Err(AuditError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                (GENESIS.to_owned(), 0)
            }
            Err(e) => return Err(e),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| AuditError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            file,
            fsync,
            prev,
            seq,
        })
    }

    fn append(&mut self, records: Vec<Record>) -> Result<(), AuditError> {
        use std::io::Write;
        let (mut prev, mut seq) = (self.prev.clone(), self.seq);
        let mut out = String::new();
        for mut r in records {
            out.push_str(&chain(&mut r, &mut prev, &mut seq));
            out.push('\n');
        }
        let io = |source| AuditError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(out.as_bytes()).map_err(io)?;
        if self.fsync {
            self.file.sync_data().map_err(io)?;
        }
        (self.prev, self.seq) = (prev, seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: u64) -> Vec<Record> {
        let (mut prev, mut seq) = (GENESIS.to_owned(), 0);
        (0..n)
            .map(|i| {
                let mut r = Record {
                    subject: format!("user{i}"),
                    method: "tools/call".into(),
                    outcome: "ok".into(),
                    ..Record::default()
                };
                chain(&mut r, &mut prev, &mut seq);
                r
            })
            .collect()
    }

    #[test]
    fn any_edit_removal_or_reordering_breaks_the_chain() {
        let good = records(5);
        assert_eq!(verify(&good).unwrap().0, 5);
        let mut edited = good.clone();
        edited[2].subject = "mallory".into();
        assert_eq!(verify(&edited).unwrap_err().seq, 3);
        let mut removed = good.clone();
        removed.remove(1);
        assert!(verify(&removed).is_err());
        let mut swapped = good.clone();
        swapped.swap(1, 2);
        assert!(verify(&swapped).is_err());
        // Rewriting one record's hash to match its edit still breaks the next link.
        let mut rehashed = good.clone();
        rehashed[2].subject = "mallory".into();
        rehashed[2].hash = rehashed[2].compute_hash();
        assert_eq!(verify(&rehashed).unwrap_err().seq, 4);
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut v = serde_json::json!({"user": "a", "api_key": "k", "nested": {"Access_Token": "t", "list": [{"password": "p"}]}});
        redact(
            &mut v,
            &["token".into(), "password".into(), "api_key".into()],
        );
        assert_eq!(v["user"], "a");
        assert_eq!(v["api_key"], "[REDACTED]");
        assert_eq!(v["nested"]["Access_Token"], "[REDACTED]");
        assert_eq!(v["nested"]["list"][0]["password"], "[REDACTED]");
    }

    #[tokio::test]
    async fn sqlite_records_survive_reopening_and_chain_on() {
        let dir = std::env::temp_dir().join(format!("sb-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.db");
        let cfg = AuditConfig {
            path: path.display().to_string(),
            ..AuditConfig::default()
        };
        for round in 0..2 {
            let audit = Audit::open(&cfg, false).unwrap();
            let logs = (0..20).map(|i| {
                let a = audit.clone();
                async move {
                    a.log(Record {
                        subject: format!("r{round}-{i}"),
                        method: "tools/call".into(),
                        outcome: "ok".into(),
                        ..Record::default()
                    })
                    .await
                }
            });
            futures_util::future::join_all(logs).await;
        }
        let all = read(&path, None).unwrap();
        assert_eq!(all.len(), 40);
        assert_eq!(verify(&all).unwrap().0, 40);
        // The database refuses edits outright.
        let conn = rusqlite::Connection::open(&path).unwrap();
        assert!(
            conn.execute("UPDATE audit SET subject = 'x' WHERE seq = 1", [])
                .is_err()
        );
        assert!(conn.execute("DELETE FROM audit WHERE seq = 1", []).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn record(subject: &str) -> Record {
        Record {
            subject: subject.into(),
            method: "tools/call".into(),
            outcome: "ok".into(),
            ..Record::default()
        }
    }

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }

    #[test]
    fn the_journal_line_is_the_record_and_verifies() {
        let (mut prev, mut seq) = (GENESIS.to_owned(), 0);
        let mut r = record("line");
        r.args = Some("{\"q\":\"\\\"quoted\\\"\"}".into());
        let line = chain(&mut r, &mut prev, &mut seq);
        let parsed: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed, r);
        assert_eq!(r.compute_hash(), r.hash);
        assert_eq!(verify(&[parsed]).unwrap().0, 1);
    }

    /// Acknowledged records are readable at once (from the journal), and a journal left by a
    /// gateway that died before moving it is taken into the database by the next start.
    #[tokio::test]
    async fn journalled_records_are_read_at_once_and_recovered_after_a_crash() {
        let dir = std::env::temp_dir().join(format!("sb-audit-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.db");
        let cfg = AuditConfig {
            path: path.display().to_string(),
            ..AuditConfig::default()
        };
        let audit = Audit::open(&cfg, false).unwrap();
        for i in 0..7 {
            audit.log(record(&format!("first-{i}"))).await;
        }
        // Before any import tick: the records are in the journal, and read shows them.
        let all = read(&path, None).unwrap();
        assert_eq!(all.len(), 7);
        assert_eq!(verify(&all).unwrap().0, 7);
        // A crash: the process is gone without a flush. Keep a copy of the journal as it was,
        // let this gateway go (its flush empties the journal), and put the copy back with
        // the database as the crash left it (empty).
        let live = Journal::live_path(&path);
        let journal = std::fs::read(&live).unwrap();
        drop(audit);
        assert_eq!(read(&path, None).unwrap().len(), 7);
        assert!(std::fs::read(&live).unwrap().is_empty());
        for f in ["a.db", "a.db-wal", "a.db-shm"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        // Half a line at the end: a write the crash cut short, never acknowledged.
        let mut torn = journal.clone();
        torn.extend_from_slice(b"{\"seq\":8,\"time\":\"");
        std::fs::write(&live, &torn).unwrap();
        let audit = Audit::open(&cfg, false).unwrap();
        audit.log(record("after")).await;
        audit.flush();
        let all = read(&path, None).unwrap();
        assert_eq!(all.len(), 8, "7 recovered and 1 new");
        assert_eq!(all[7].subject, "after");
        assert_eq!(verify(&all).unwrap().0, 8);
        drop(audit);
        // A journal that does not continue the chain is refused, not silently merged.
        std::fs::write(&live, &journal).unwrap();
        let mut forged = read_segment(&live).unwrap();
        forged[0].seq = 9;
        let forged: String = forged
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        std::fs::write(&live, forged).unwrap();
        let refused = Audit::open(&cfg, false).err().unwrap().to_string();
        assert!(refused.contains("does not continue"), "{refused}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A lone request whose record is queued while the importer holds the sink is still
    /// committed (the importer leads the queue when it lets go), never left waiting.
    #[tokio::test(flavor = "current_thread")]
    async fn no_record_waits_on_the_importer() {
        let dir = std::env::temp_dir().join(format!("sb-audit-lone-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = AuditConfig {
            path: dir.join("a.db").display().to_string(),
            ..AuditConfig::default()
        };
        let audit = Audit::open(&cfg, false).unwrap();
        // Bounded: about a second of back-to-back records, so the importer ticks ~10 times.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let mut n = 0;
        while std::time::Instant::now() < end && n < 1_000_000 {
            let logged =
                tokio::time::timeout(std::time::Duration::from_secs(2), audit.log(record("lone")))
                    .await;
            assert!(logged.is_ok(), "record {n} was never committed");
            n += 1;
        }
        drop(audit);
        assert_eq!(read(&dir.join("a.db"), None).unwrap().len(), n);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn jsonl_chains_across_restarts_and_edits_show() {
        let dir = std::env::temp_dir().join(format!("sb-audit-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.jsonl");
        let cfg = AuditConfig {
            sink: AuditSink::Jsonl,
            path: path.display().to_string(),
            ..AuditConfig::default()
        };
        for round in 0..2 {
            let audit = Audit::open(&cfg, false).unwrap();
            for i in 0..5 {
                audit
                    .log(Record {
                        subject: format!("r{round}-{i}"),
                        method: "tools/call".into(),
                        outcome: "ok".into(),
                        ..Record::default()
                    })
                    .await;
            }
        }
        let all = read(&path, None).unwrap();
        assert_eq!(verify(&all).unwrap().0, 10);
        assert_eq!(read(&path, Some("r1-")).unwrap().len(), 5);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("r0-3", "r0-9", 1)).unwrap();
        assert_eq!(verify(&read(&path, None).unwrap()).unwrap_err().seq, 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
