//! The file sinks: the SQLite database (through the journal, or one transaction per commit)
//! and a JSON-lines file, each continuing the hash chain where the file left it.

use std::path::{Path, PathBuf};

use crate::AuditError;
use crate::format::{COLUMNS, SCHEMA, read_jsonl};
use crate::record::{GENESIS, Record, chain};

pub(crate) struct SqliteSink {
    pub(crate) path: PathBuf,
    conn: rusqlite::Connection,
    pub(crate) prev: String,
    pub(crate) seq: u64,
}

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
        let (prev, seq) = match read_jsonl(path) {
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
