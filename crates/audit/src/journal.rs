//! The SQLite sink's journal: records are acknowledged once appended to `<db>.pending`
//! (one `write(2)` per group commit); the importer rotates it into numbered segments and moves
//! them into the database; a journal a crash left is recovered at the next start.

use std::path::{Path, PathBuf};

use crate::AuditError;
use crate::format::{parse_lines, read_jsonl};
use crate::record::{Record, chain};
use crate::sink::SqliteSink;

/// The records a crashed (or still running) gateway left in the journal files of `db`:
/// older segments first, then the live journal. A last line cut short by a crash was never
/// acknowledged and is skipped.
pub(super) fn journal_records(db: &Path) -> Result<Vec<(PathBuf, Vec<Record>)>, AuditError> {
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
        let records = parse_lines(&path, complete)?;
        out.push((path, records));
    }
    Ok(out)
}

/// The SQLite sink's journal: records are acknowledged once appended here.
pub(super) struct Journal {
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
    pub(super) fn live_path(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_owned();
        p.push(".pending");
        PathBuf::from(p)
    }

    /// Journal segments handed to the importer (`<db>.pending.<first seq>`), in order.
    pub(super) fn segments(db: &Path) -> Result<Vec<(u64, PathBuf)>, AuditError> {
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
    pub(super) fn open(db_path: &Path, db: &mut SqliteSink) -> Result<Self, AuditError> {
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

    pub(super) fn append(&mut self, mut records: Vec<Record>) -> Result<(), AuditError> {
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
    pub(super) fn rotate(&mut self) -> Result<Option<(PathBuf, Vec<Record>)>, AuditError> {
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

/// What rotating the journal gave: the new segment and its records, if anything was staged.
pub(crate) type Rotated = Result<Option<(PathBuf, Vec<Record>)>, AuditError>;

/// Moves journal segments into the database.
pub(super) struct Importer {
    pub(super) db: parking_lot::Mutex<SqliteSink>,
}

impl Importer {
    /// Take what is staged (the database lock first, so segments go in in order; `released`
    /// runs as soon as the sink is free again), insert it
    /// in one transaction, then delete the segment. A failed import leaves the segment on disk
    /// and is retried from it, together with any later one, at the next flush.
    pub(super) fn flush(&self, rotate: impl FnOnce() -> Rotated, released: impl FnOnce()) {
        let mut db = self.db.lock();
        let rotated = rotate();
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
                None => read_jsonl(&path),
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
