//! [`MemoryStore`]: every interface held in this process's memory (one replica, nothing
//! survives a restart).

use std::collections::{HashMap, VecDeque};
use std::future::ready;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;

use crate::log::LogEntry;
use crate::pubsub::Hub;
use crate::{AppendLog, KeyValue, PubSub, StoreError, Subscription};

/// Every how many writes expired keys are swept out (they are never returned meanwhile).
const SWEEP_EVERY: u64 = 1024;

/// The in-process store: a map and logs behind one mutex (no call waits while holding it), and
/// pub/sub straight through the in-process fan-out. Expiry is checked on every read; expired
/// keys are swept out every 1024 writes.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    hub: Hub,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, Entry>,
    logs: HashMap<String, Log>,
    writes: u64,
}

struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

#[derive(Default)]
struct Log {
    last: u64,
    entries: VecDeque<(u64, Bytes)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl State {
    /// The live value of `key`, removing it if it expired.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.keys.get(key).is_some_and(|e| !e.live(now)) {
            self.keys.remove(key);
        }
        self.keys.get_mut(key)
    }

    /// Counts a write, sweeping out expired keys now and then.
    fn wrote(&mut self, now: Instant) {
        self.writes = self.writes.wrapping_add(1);
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.keys.retain(|_, e| e.live(now));
        }
    }
}

fn expiry(now: Instant, ttl: Option<Duration>) -> Option<Instant> {
    ttl.map(|ttl| now + ttl.max(Duration::from_millis(1)))
}

impl KeyValue for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let now = Instant::now();
        let value = self.state.lock().live(key, now).map(|e| e.value.clone());
        Box::pin(ready(Ok(value)))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let now = Instant::now();
        let mut state = self.state.lock();
        let expires = expiry(now, ttl);
        state.keys.insert(key.to_owned(), Entry { value, expires });
        state.wrote(now);
        Box::pin(ready(Ok(())))
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = Instant::now();
        let mut state = self.state.lock();
        let won = state.live(key, now).is_none();
        if won {
            let expires = expiry(now, ttl);
            state.keys.insert(key.to_owned(), Entry { value, expires });
            state.wrote(now);
        }
        Box::pin(ready(Ok(won)))
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = Instant::now();
        let removed = self.state.lock().keys.remove(key);
        Box::pin(ready(Ok(removed.is_some_and(|e| e.live(now)))))
    }

    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a [u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = Instant::now();
        let mut state = self.state.lock();
        let current = state.live(key, now).map(|e| e.value.as_slice());
        let matches = current == expected;
        if matches {
            match new {
                Some(value) => {
                    let expires = expiry(now, ttl);
                    state.keys.insert(key.to_owned(), Entry { value, expires });
                }
                None => {
                    state.keys.remove(key);
                }
            }
            state.wrote(now);
        }
        Box::pin(ready(Ok(matches)))
    }
}

impl PubSub for MemoryStore {
    fn publish<'a>(
        &'a self,
        channel: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.hub.deliver(channel, 0, Bytes::from(payload));
        Box::pin(ready(Ok(())))
    }

    fn subscribe<'a>(
        &'a self,
        channel: &'a str,
    ) -> BoxFuture<'a, Result<Subscription, StoreError>> {
        Box::pin(ready(Ok(self.hub.subscribe(channel, channel, 0))))
    }
}

impl AppendLog for MemoryStore {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        let mut state = self.state.lock();
        let log = state.logs.entry(stream.to_owned()).or_default();
        log.last += 1;
        let seq = log.last;
        log.entries.push_back((seq, Bytes::from(payload)));
        Box::pin(ready(Ok(seq)))
    }

    fn read<'a>(
        &'a self,
        stream: &'a str,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, StoreError>> {
        let state = self.state.lock();
        let entries = match state.logs.get(stream) {
            Some(log) => {
                let start = log.entries.partition_point(|(seq, _)| *seq <= after);
                log.entries
                    .range(start..)
                    .take(limit)
                    .map(|(seq, payload)| (*seq, payload.to_vec()))
                    .collect()
            }
            None => Vec::new(),
        };
        Box::pin(ready(Ok(entries)))
    }

    fn trim<'a>(
        &'a self,
        stream: &'a str,
        keep_after: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        if let Some(log) = self.state.lock().logs.get_mut(stream) {
            let cut = log.entries.partition_point(|(seq, _)| *seq <= keep_after);
            log.entries.drain(..cut);
        }
        Box::pin(ready(Ok(())))
    }
}
