//! [`AppendLog`]: named append-only logs with a sequence number per entry (event histories,
//! replayable progress).

use futures_util::future::BoxFuture;

use crate::StoreError;

/// One entry of an [`AppendLog`]: its sequence number and payload.
pub type LogEntry = (u64, Vec<u8>);

/// Append-only logs ("streams"), each entry numbered. Sequence numbers start at 1 and only grow
/// within a stream, across trims and restarts of a persistent store, so a reader can resume with
/// `read(stream, last_seen, …)`.
pub trait AppendLog: Send + Sync {
    /// Appends `payload` to `stream` and returns its sequence number, greater than every one
    /// given out before on this stream.
    fn append<'a>(
        &'a self,
        stream: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Up to `limit` entries of `stream` with sequence numbers above `after`, oldest first, as
    /// `(seq, payload)`. An unknown stream reads as empty.
    fn read<'a>(
        &'a self,
        stream: &'a str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, StoreError>>;

    /// Drops the entries of `stream` numbered `keep_after` or less; later appends keep counting
    /// from where the stream was.
    fn trim<'a>(
        &'a self,
        stream: &'a str,
        keep_after: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}
