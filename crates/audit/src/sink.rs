//! Where records are committed: SQLite (through the journal, or one transaction per commit),
//! a JSON-lines file, or a standard stream; each commit continues the hash chain.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use switchboard_store::hex;
use tokio::sync::mpsc;

use crate::journal::Journal;
use crate::read::read;
use crate::record::{GENESIS, Record};
use crate::{AuditError, Entry};

pub(crate) enum Sink {
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
pub(crate) const BATCH: usize = 512;

pub(crate) fn writer(mut sink: Sink, mut rx: mpsc::UnboundedReceiver<Entry>) {
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
pub(crate) fn commit(sink: &mut Sink, batch: Vec<Entry>) {
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
pub(crate) fn chain(r: &mut Record, prev: &mut String, seq: &mut u64) -> String {
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

pub(crate) struct SqliteSink {
    pub(crate) path: PathBuf,
    conn: rusqlite::Connection,
    pub(crate) prev: String,
    pub(crate) seq: u64,
}

pub(crate) const SCHEMA: &str = "
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

pub(crate) const COLUMNS: &str = "seq, time, subject, role, auth, client_ip, transport, method, target, outcome, error_code, latency_us, args_sha256, args, prev, hash";

impl SqliteSink {
    pub(crate) fn open(path: &Path, fsync: bool) -> Result<Self, AuditError> {
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
    pub(crate) fn append(&mut self, records: &mut [Record]) -> Result<(), AuditError> {
        let (mut prev, mut seq) = (self.prev.clone(), self.seq);
        for r in records.iter_mut() {
            chain(r, &mut prev, &mut seq);
        }
        self.insert(records)
    }

    /// Insert records chained elsewhere (the journal), in one transaction. Records already in
    /// the database (a recovery repeated after a crash) are skipped; the rest must continue
    /// the chain exactly.
    pub(crate) fn insert(&mut self, records: &[Record]) -> Result<(), AuditError> {
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

pub(crate) struct JsonlSink {
    path: PathBuf,
    file: std::fs::File,
    fsync: bool,
    prev: String,
    seq: u64,
}

impl JsonlSink {
    pub(crate) fn open(path: &Path, fsync: bool) -> Result<Self, AuditError> {
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

    pub(crate) fn append(&mut self, records: Vec<Record>) -> Result<(), AuditError> {
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
