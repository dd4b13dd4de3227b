//! Reading a trail back (`switchboard audit tail|search|verify`): an audit database with its
//! journal, or a JSON-lines file; no running gateway needed.

use std::path::Path;

use crate::AuditError;
use crate::format::{COLUMNS, read_jsonl, row_to_record};
use crate::journal::journal_records;
use crate::record::Record;

/// The database's records followed by those still in its journal. A running gateway may move
/// a segment into the database between the two reads; a read that sees a gap is repeated.
pub(crate) fn read_sqlite(path: &Path) -> Result<Vec<Record>, AuditError> {
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
