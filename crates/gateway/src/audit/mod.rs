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

mod journal;

use journal::{Importer, Journal, journal_records};

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

/// Records from JSON lines (blank lines skipped); errors name the file and line.
fn parse_lines(path: &Path, text: &str) -> Result<Vec<Record>, AuditError> {
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

/// A JSONL audit file or journal segment.
fn read_jsonl(path: &Path) -> Result<Vec<Record>, AuditError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuditError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_lines(path, &text)
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
    // The header alone tells a database from JSON lines; the file may be large.
    let mut head = [0u8; 15];
    let is_sqlite = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .map(|n| head[..n] == *b"SQLite format 3")
        .map_err(|source| AuditError::Io {
            path: path.to_owned(),
            source,
        })?;
    let all = if is_sqlite {
        read_sqlite(path)?
    } else {
        read_jsonl(path)?
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
mod tests;
