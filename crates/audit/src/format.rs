//! The trail's on-disk forms: JSON lines (the JSONL sink, the journal and its segments) and
//! the SQLite table (its schema and columns), read back into records.

use std::path::Path;

use crate::AuditError;
use crate::record::Record;

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

/// Records from JSON lines (blank lines skipped); errors name the file and line.
pub(crate) fn parse_lines(path: &Path, text: &str) -> Result<Vec<Record>, AuditError> {
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
pub(crate) fn read_jsonl(path: &Path) -> Result<Vec<Record>, AuditError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuditError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_lines(path, &text)
}

pub(crate) fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
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
