//! Client sessions (protocol ≤ 2025-11-25): what a client declared in `initialize`, its log
//! level and subscriptions, the calls it has in flight, and the requests we sent it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, Id};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::outbound::Outbound;

type Waiter = oneshot::Sender<Result<Box<RawValue>, ErrorObject>>;

static NEXT_ORIGIN: AtomicU64 = AtomicU64::new(1);

/// A fresh relay origin: one per session, or one per stateless request.
pub fn next_origin() -> u64 {
    NEXT_ORIGIN.fetch_add(1, Ordering::Relaxed)
}

/// A session that never sends `notifications/initialized` is closed after this long, so
/// anonymous `initialize` floods cannot hold every session slot.
pub const UNINITIALIZED_LIMIT: Duration = Duration::from_secs(60);

pub struct Session {
    pub id: Arc<str>,
    /// Unique per session; used to attribute messages on shared upstream channels.
    pub origin: u64,
    pub protocol_version: parking_lot::RwLock<String>,
    /// The subject that opened the session; only it may use it.
    owner: parking_lot::RwLock<Option<Arc<str>>>,
    client_capabilities: parking_lot::RwLock<serde_json::Value>,
    pub client_info: parking_lot::RwLock<serde_json::Value>,
    pub initialized: AtomicBool,
    /// Minimum level of log messages forwarded; `u8::MAX` until the client sets one... but
    /// MCP says servers may send logs without setLevel, so the default is `debug` (0).
    log_level: AtomicU8,
    next_request_id: AtomicI64,
    waiting: Mutex<HashMap<Id, Waiter>>,
    standalone: Mutex<Option<Outbound>>,
    in_flight: Mutex<HashMap<Id, CancellationToken>>,
    /// Exposed URI → where it is subscribed upstream.
    pub subscriptions: Mutex<HashMap<String, crate::catalog::Route>>,
    started: Instant,
    last_seen_ms: AtomicU64,
    /// When the session's shared record (`cluster:`) was last written or renewed.
    shared_ms: AtomicU64,
    /// The cluster this session is shared through (`cluster:`), once it is.
    cluster: std::sync::OnceLock<switchboard_cluster::Cluster>,
    pub closed: CancellationToken,
    /// What the transport keeps per session (the HTTP edge: its resumable answer streams);
    /// typed by the transport, opaque here (see [`Session::transport_state`]).
    transport_state: std::sync::OnceLock<Arc<dyn std::any::Any + Send + Sync>>,
}

impl Session {
    pub fn new(id: Arc<str>) -> Arc<Self> {
        Arc::new(Self {
            id,
            origin: next_origin(),
            protocol_version: parking_lot::RwLock::new(String::new()),
            owner: parking_lot::RwLock::new(None),
            client_capabilities: parking_lot::RwLock::new(serde_json::Value::Null),
            client_info: parking_lot::RwLock::new(serde_json::Value::Null),
            initialized: AtomicBool::new(false),
            log_level: AtomicU8::new(0),
            next_request_id: AtomicI64::new(1),
            waiting: Mutex::new(HashMap::new()),
            standalone: Mutex::new(None),
            in_flight: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashMap::new()),
            started: Instant::now(),
            last_seen_ms: AtomicU64::new(0),
            shared_ms: AtomicU64::new(0),
            cluster: std::sync::OnceLock::new(),
            closed: CancellationToken::new(),
            transport_state: std::sync::OnceLock::new(),
        })
    }

    /// The transport's state for this session, created on first use. A session is served by
    /// one transport, so one type is ever asked for; another type gets `None`.
    pub fn transport_state<T: std::any::Any + Send + Sync + Default>(&self) -> Option<Arc<T>> {
        self.transport_state
            .get_or_init(|| Arc::new(T::default()))
            .clone()
            .downcast::<T>()
            .ok()
    }

    /// The subject that opened the session.
    pub fn owner(&self) -> Option<Arc<str>> {
        self.owner.read().clone()
    }

    /// Share this session through `cluster`: its requests to the client are numbered from a
    /// random base (below 2^52, so JavaScript clients keep them exact), so the copies of one
    /// session on several replicas never send two requests with one id.
    pub fn join_cluster(&self, cluster: &switchboard_cluster::Cluster) {
        if self.cluster.set(cluster.clone()).is_ok() {
            let base = u64::from(u32::from_le_bytes(
                uuid::Uuid::new_v4().as_bytes()[..4]
                    .try_into()
                    .unwrap_or([0; 4]),
            ));
            let base = i64::try_from(base << 20).unwrap_or(0);
            self.next_request_id.store(base.max(1), Ordering::Relaxed);
        }
    }

    /// The cluster this session is shared through.
    pub fn cluster(&self) -> Option<&switchboard_cluster::Cluster> {
        self.cluster.get()
    }

    /// Whether a request of ours with `id` waits for the client's answer here.
    pub fn is_waiting(&self, id: &Id) -> bool {
        self.waiting.lock().contains_key(id)
    }

    /// The shared record was written or renewed now.
    pub fn mark_shared(&self) {
        self.stamp(&self.shared_ms);
    }

    /// How long since the shared record was written or renewed.
    pub fn shared_for(&self) -> Duration {
        self.since(&self.shared_ms)
    }

    /// Set `at` to now (milliseconds since the session started).
    fn stamp(&self, at: &AtomicU64) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        at.store(ms, Ordering::Relaxed);
    }

    /// How long since the moment `at` holds.
    fn since(&self, at: &AtomicU64) -> Duration {
        let last = Duration::from_millis(at.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// Bind the session to the identity that opened it.
    pub fn set_owner(&self, subject: &Arc<str>) {
        *self.owner.write() = Some(subject.clone());
    }

    /// Whether `subject` may use this session.
    pub fn owned_by(&self, subject: &str) -> bool {
        self.owner.read().as_deref().is_none_or(|o| o == subject)
    }

    pub fn set_client(
        &self,
        version: &str,
        capabilities: serde_json::Value,
        info: serde_json::Value,
    ) {
        *self.protocol_version.write() = version.to_owned();
        *self.client_capabilities.write() = capabilities;
        *self.client_info.write() = info;
    }

    /// The capabilities the client declared in `initialize`.
    pub fn client_capabilities(&self) -> serde_json::Value {
        self.client_capabilities.read().clone()
    }

    pub fn client_has(&self, capability: &str) -> bool {
        self.client_capabilities
            .read()
            .get(capability)
            .is_some_and(|v| !v.is_null())
    }

    pub fn touch(&self) {
        self.stamp(&self.last_seen_ms);
    }

    pub fn idle_for(&self) -> Duration {
        self.since(&self.last_seen_ms)
    }

    pub fn log_level(&self) -> u8 {
        self.log_level.load(Ordering::Relaxed)
    }

    pub fn set_log_level(&self, level: u8) {
        self.log_level.store(level, Ordering::Relaxed);
    }

    /// Whether a `notifications/message` with these params passes the session's level.
    pub fn wants_log(&self, params: Option<&RawValue>) -> bool {
        switchboard_protocol::log_level::message_level(params)
            >= self.log_level.load(Ordering::Relaxed)
    }

    /// The session's standalone stream (HTTP GET stream, or stdout for stdio).
    pub fn standalone(&self) -> Option<Outbound> {
        self.standalone.lock().clone().filter(|o| !o.is_closed())
    }

    pub fn set_standalone(&self, out: Option<Outbound>) {
        *self.standalone.lock() = out;
    }

    pub fn has_standalone(&self) -> bool {
        self.standalone().is_some()
    }

    /// Allocate an id for a request to the client and a receiver for its answer.
    pub fn expect_response(&self) -> (Id, oneshot::Receiver<Result<Box<RawValue>, ErrorObject>>) {
        let id = Id::Num(self.next_request_id.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(id.clone(), tx);
        (id, rx)
    }

    pub fn forget_response(&self, id: &Id) {
        self.waiting.lock().remove(id);
    }

    /// Deliver the client's answer to one of our requests. False if nobody waits for it.
    pub fn resolve(&self, id: &Id, result: Result<Box<RawValue>, ErrorObject>) -> bool {
        match self.waiting.lock().remove(id) {
            Some(tx) => tx.send(result).is_ok(),
            None => false,
        }
    }

    /// Register a client request in flight; the token is cancelled by `notifications/cancelled`.
    pub fn begin(&self, id: &Id) -> CancellationToken {
        let token = self.closed.child_token();
        self.in_flight.lock().insert(id.clone(), token.clone());
        token
    }

    pub fn end(&self, id: &Id) {
        self.in_flight.lock().remove(id);
    }

    pub fn cancel(&self, id: &Id) -> bool {
        match self.in_flight.lock().remove(id) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.lock().len()
    }

    /// End the session: cancel its calls, close its streams, fail requests waiting on it.
    pub fn close(&self) {
        self.closed.cancel();
        self.set_standalone(None);
        self.waiting.lock().clear();
    }
}

/// All live sessions of a transport.
#[derive(Default)]
pub struct Sessions {
    map: parking_lot::RwLock<HashMap<Arc<str>, Arc<Session>>>,
}

impl Sessions {
    pub fn create(&self) -> Arc<Session> {
        let id: Arc<str> = Arc::from(uuid::Uuid::new_v4().simple().to_string());
        let s = Session::new(id.clone());
        s.touch();
        self.map.write().insert(id, s.clone());
        s
    }

    pub fn insert(&self, s: Arc<Session>) {
        self.map.write().insert(s.id.clone(), s);
    }

    /// Insert `s` unless a session with its id is there; the one kept.
    pub fn insert_if_absent(&self, s: Arc<Session>) -> Arc<Session> {
        self.map.write().entry(s.id.clone()).or_insert(s).clone()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.map.read().get(id).cloned()
    }

    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        let s = self.map.write().remove(id);
        if let Some(s) = &s {
            s.close();
        }
        s
    }

    pub fn len(&self) -> usize {
        self.map.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn all(&self) -> Vec<Arc<Session>> {
        self.map.read().values().cloned().collect()
    }

    /// Sessions to close: idle longer than `limit` with nothing in flight and no open stream,
    /// or never past `initialize` within `UNINITIALIZED_LIMIT`. The caller closes them.
    pub fn idle(&self, limit: Duration) -> Vec<Arc<str>> {
        self.map
            .read()
            .values()
            .filter(|s| s.in_flight() == 0 && !s.has_standalone())
            .filter(|s| {
                let idle = s.idle_for();
                idle > limit
                    || (!s.initialized.load(Ordering::Relaxed) && idle > UNINITIALIZED_LIMIT)
            })
            .map(|s| s.id.clone())
            .collect()
    }

    /// Close every session's standalone stream (used on shutdown so GET streams end).
    pub fn close_streams(&self) {
        for s in self.map.read().values() {
            s.set_standalone(None);
        }
    }
}

#[cfg(test)]
mod tests;
