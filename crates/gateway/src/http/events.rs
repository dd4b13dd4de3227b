//! Resumable response streams. Each SSE answer to a POST gets a stream number; its events are
//! kept (bounded) in an [`EventLog`] so that a client whose connection broke can reopen the
//! stream with `GET` + `Last-Event-ID: <stream>-<seq>` and receive what it missed, then the
//! rest, as the 2025-11-25 transport describes.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use parking_lot::Mutex;
use switchboard_protocol::sse;
use tokio::sync::{Notify, mpsc};

use crate::outbound::Out;

/// Events kept per stream; older ones are dropped (a resume from before them gets the rest).
const MAX_EVENTS: usize = 10_000;
/// How long a finished stream stays resumable.
pub const RESUME_WINDOW: Duration = Duration::from_secs(60);
/// The reconnection delay clients are told (`retry:`), in milliseconds.
pub const RETRY_MS: u64 = 1000;

#[derive(Default)]
struct Inner {
    /// (sequence number, encoded SSE frame)
    events: VecDeque<(u64, Bytes)>,
    next_seq: u64,
    done: bool,
}

pub struct EventLog {
    pub stream: u64,
    /// The stream's part of its event ids: its number, then `@` and the replica's name when
    /// replicas share sessions (`cluster:`), so a `Last-Event-ID` says where the stream is.
    name: String,
    inner: Mutex<Inner>,
    changed: Notify,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl EventLog {
    fn new(stream: u64, replica: Option<&str>) -> Arc<Self> {
        let name = match replica {
            Some(r) => format!("{stream}@{r}"),
            None => stream.to_string(),
        };
        Arc::new(Self {
            stream,
            name,
            inner: Mutex::new(Inner {
                next_seq: 1,
                ..Inner::default()
            }),
            changed: Notify::new(),
        })
    }

    fn push(&self, json: &[u8], last: bool) {
        {
            let mut inner = self.inner.lock();
            let seq = inner.next_seq;
            inner.next_seq += 1;
            let mut frame = Vec::with_capacity(json.len() + 48);
            sse::encode_event(json, Some(&format!("{}-{seq}", self.name)), &mut frame);
            inner.events.push_back((seq, Bytes::from(frame)));
            if inner.events.len() > MAX_EVENTS {
                inner.events.pop_front();
            }
            inner.done |= last;
        }
        self.changed.notify_waiters();
    }

    fn finish(&self) {
        self.inner.lock().done = true;
        self.changed.notify_waiters();
    }

    /// The next frame at or after `seq`: `Some((seq, frame))`, or `None` when the stream is
    /// complete and everything was read.
    pub(crate) async fn next(&self, seq: u64) -> Option<(u64, Bytes)> {
        loop {
            let notified = self.changed.notified();
            {
                let inner = self.inner.lock();
                if let Some((s, f)) = inner.events.iter().find(|(s, _)| *s >= seq) {
                    return Some((*s, f.clone()));
                }
                if inner.done {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// An SSE body reading this stream from `seq`, optionally after a priming event.
    pub fn body(self: Arc<Self>, from_seq: u64, prime: bool) -> axum::body::Body {
        let priming = prime.then(|| {
            Bytes::from(format!(
                "id: {}-0\nretry: {RETRY_MS}\ndata: \n\n",
                self.name
            ))
        });
        let stream = futures_util::stream::unfold(
            (self, from_seq, priming),
            |(log, seq, priming)| async move {
                if let Some(p) = priming {
                    return Some((Ok::<_, Infallible>(p), (log, seq, None)));
                }
                let (s, frame) = log.next(seq).await?;
                Some((Ok(frame), (log, s + 1, None)))
            },
        );
        axum::body::Body::from_stream(stream)
    }
}

/// The resumable streams of one session.
pub struct Streams {
    next: AtomicU64,
    logs: Mutex<HashMap<u64, Arc<EventLog>>>,
}

impl Default for Streams {
    /// Numbers from a random base: a replica that restarts under the same name does not reuse
    /// the numbers its earlier run gave the same session's streams.
    fn default() -> Self {
        Self {
            next: AtomicU64::new(uuid::Uuid::new_v4().as_u64_pair().0 >> 40),
            logs: Mutex::default(),
        }
    }
}

/// Where a `Last-Event-ID` points.
#[derive(Debug)]
pub enum Resume {
    /// A stream of this replica, from this sequence number.
    Here(Arc<EventLog>, u64),
    /// A stream of another replica.
    Elsewhere {
        replica: String,
        stream: u64,
        from: u64,
    },
    /// Nothing known (malformed, or a stream forgotten).
    Unknown,
}

impl Streams {
    /// Start a stream fed by `rx` (after `first`, if given). The feeding task keeps running if
    /// the client goes away, so the stream can be resumed; it is forgotten `RESUME_WINDOW`
    /// after it completes.
    pub fn start(
        self: &Arc<Self>,
        first: Option<Vec<u8>>,
        mut rx: mpsc::Receiver<Out>,
        replica: Option<&str>,
    ) -> Arc<EventLog> {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let log = EventLog::new(id, replica);
        self.logs.lock().insert(id, log.clone());
        if let Some(f) = first {
            log.push(&f, false);
        }
        let feed = log.clone();
        let streams = self.clone();
        tokio::spawn(async move {
            while let Some(item) = rx.recv().await {
                match item {
                    Out::Message(b) => feed.push(&b, false),
                    Out::Final(b) => {
                        feed.push(&b, true);
                        break;
                    }
                }
            }
            feed.finish();
            tokio::time::sleep(RESUME_WINDOW).await;
            streams.logs.lock().remove(&feed.stream);
        });
        log
    }

    /// The stream and position a `Last-Event-ID` refers to; `me` is this replica's name.
    pub fn resume(&self, last_event_id: &str, me: Option<&str>) -> Resume {
        let Some((name, seq)) = last_event_id.trim().rsplit_once('-') else {
            return Resume::Unknown;
        };
        let (number, replica) = match name.split_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (name, None),
        };
        let (Ok(stream), Some(from)) = (
            number.parse::<u64>(),
            seq.parse::<u64>().ok().and_then(|s| s.checked_add(1)),
        ) else {
            return Resume::Unknown;
        };
        if let Some(r) = replica.filter(|r| Some(*r) != me) {
            return Resume::Elsewhere {
                replica: r.to_owned(),
                stream,
                from,
            };
        }
        match self.log(stream) {
            Some(log) => Resume::Here(log, from),
            None => Resume::Unknown,
        }
    }

    /// Stream `stream` of this session, while it is kept.
    pub fn log(&self, stream: u64) -> Option<Arc<EventLog>> {
        self.logs.lock().get(&stream).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_replays_from_any_point_and_ends_after_the_final_event() {
        let streams = Arc::new(Streams::default());
        let (tx, rx) = mpsc::channel(8);
        let log = streams.start(Some(b"{\"a\":1}".to_vec()), rx, None);
        tx.send(Out::Message(b"{\"b\":2}".to_vec())).await.unwrap();
        tx.send(Out::Final(b"{\"c\":3}".to_vec())).await.unwrap();
        let Resume::Here(resumed, from) = streams.resume(&format!("{}-1", log.stream), None) else {
            panic!("not resumed here")
        };
        assert_eq!(from, 2);
        let (s, f) = resumed.next(from).await.unwrap();
        assert_eq!(s, 2);
        assert!(String::from_utf8_lossy(&f).contains("\"b\":2"));
        let (s, f) = resumed.next(3).await.unwrap();
        assert_eq!(s, 3);
        assert!(String::from_utf8_lossy(&f).contains(&format!("id: {}-3", log.stream)));
        assert!(resumed.next(4).await.is_none());
        assert!(matches!(streams.resume("garbage", None), Resume::Unknown));
        assert!(matches!(streams.resume("999-1", None), Resume::Unknown));
        assert!(matches!(
            streams.resume(&format!("{}-18446744073709551615", log.stream), None),
            Resume::Unknown
        ));
    }

    #[tokio::test]
    async fn with_replicas_event_ids_name_the_replica_holding_the_stream() {
        let streams = Arc::new(Streams::default());
        let (tx, rx) = mpsc::channel(8);
        let log = streams.start(None, rx, Some("host-a.example-1"));
        tx.send(Out::Final(b"{\"c\":3}".to_vec())).await.unwrap();
        let (_, frame) = log.next(1).await.unwrap();
        let id = format!("{}@host-a.example-1-1", log.stream);
        assert!(
            String::from_utf8_lossy(&frame).contains(&format!("id: {id}\n")),
            "{}",
            String::from_utf8_lossy(&frame)
        );
        // Here, on the replica named in it; elsewhere, on any other.
        assert!(matches!(
            streams.resume(&id, Some("host-a.example-1")),
            Resume::Here(_, 2)
        ));
        match streams.resume(&id, Some("b")) {
            Resume::Elsewhere {
                replica,
                stream,
                from,
            } => {
                assert_eq!(
                    (replica.as_str(), stream, from),
                    ("host-a.example-1", log.stream, 2)
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
