//! Committing records: the sink in use (SQLite through the journal or directly, JSON lines,
//! a standard stream), one batch at a time, each record chained to the previous.

use tokio::sync::mpsc;

use crate::Entry;
use crate::journal::Journal;
use crate::record::{Record, chain};
use crate::sink::{JsonlSink, SqliteSink};

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
