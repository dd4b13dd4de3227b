//! The tool-result cache: pipeline stage 5, after validation and before routing.
//!
//! A `tools/call` is cached when a `cache.tools` rule names its tool, or (with `cache.auto`)
//! when its upstream annotates it `readOnlyHint` and `idempotentHint`. The key is a SHA-256 of
//! the client's protocol era, the tool's exposed name, the sharing scope (nothing, the role, the
//! identity; the session for `isolation: session` servers) and the arguments in canonical form
//! (object keys sorted, `_meta` ignored). Identical calls in flight together are one upstream
//! call: the first runs it, the others wait for its answer (moka's per-key initialisation).
//!
//! Never kept: JSON-RPC errors, `isError` results, `input_required` rounds, task handles,
//! results over `max_entry_bytes`, retries carrying `requestState`/`inputResponses`, calls
//! asking for a task, and any result whose call straddled an invalidation (it may predate it).
//!
//! With `store: redis` the results live in Redis, shared by every replica, tagged by server
//! and by tool so they can be dropped together; each process keeps a near copy for
//! `local_ttl` (which bounds how stale a replica can be after another invalidates), coalesces
//! its own identical calls, and identical calls missing on several replicas at once wait for
//! the one replica that claimed the key (`remote.rs`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::notification::RemovalCause;
use serde_json::value::RawValue;
use switchboard_config::{CacheConfig, CacheScope, CacheStore};
use switchboard_protocol::{ErrorObject, RawMap};

use switchboard_policy::roles::{Pattern, Subject};

mod key;
mod remote;

pub use key::{KeyParts, key};
use remote::Remote;

/// A cache key: the SHA-256 described in the module docs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Key([u8; 32]);

impl Key {
    pub(super) fn hex(&self) -> String {
        switchboard_store::hex(&self.0)
    }
}

/// A kept result and what invalidation needs to know about it.
struct Entry {
    result: Box<RawValue>,
    server: usize,
    tool: Arc<str>,
    /// How long this copy lives here.
    ttl: Duration,
}

/// Why a result reached its callers without being kept.
enum Unkept {
    Error(ErrorObject),
    Result(Box<RawValue>),
    /// The upstream asked the caller something (sampling, elicitation, roots) while making
    /// it: it is that caller's alone, and a caller waiting on the same call makes its own.
    Personal(Box<RawValue>),
}

/// A call's relay that notes whether the upstream sent the caller a request.
pub(crate) struct Watched {
    pub inner: Arc<dyn switchboard_upstream::Relay>,
    pub asked: Arc<AtomicBool>,
}

impl switchboard_upstream::Relay for Watched {
    fn notify(&self, notification: switchboard_protocol::Notification) {
        self.inner.notify(notification)
    }
    fn request(
        &self,
        method: String,
        params: Option<Box<RawValue>>,
    ) -> switchboard_upstream::RelayFuture {
        self.asked.store(true, Ordering::Release);
        self.inner.request(method, params)
    }
    fn origin(&self) -> u64 {
        self.inner.origin()
    }
}

/// How one tool's results are cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub ttl: Duration,
    pub scope: CacheScope,
}

struct Rule {
    pattern: Pattern,
    cache: bool,
    ttl: Duration,
    scope: CacheScope,
}

/// A successful call of a tool matching `triggers` drops the results of tools matching
/// `target`.
struct Invalidator {
    triggers: Vec<Pattern>,
    target: Pattern,
}

/// Counters since start, for metrics and tests.
#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    remote_hits: AtomicU64,
    unkept: AtomicU64,
    evictions: AtomicU64,
    invalidations: AtomicU64,
    store_errors: AtomicU64,
}

/// A snapshot of the cache's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Calls answered without an upstream call (including callers that waited for an
    /// identical call in flight).
    pub hits: u64,
    /// Calls that went to their upstream.
    pub misses: u64,
    /// Of the hits, those read from Redis.
    pub remote_hits: u64,
    /// Results passed on but not kept (errors, `isError`, too large, …).
    pub unkept: u64,
    /// Results dropped to make room.
    pub evictions: u64,
    /// Invalidation events (list changes, writes named by `invalidated_by`, explicit).
    pub invalidations: u64,
    /// Redis commands that failed (the call went on without the shared cache).
    pub store_errors: u64,
    /// Results kept in this process now.
    pub entries: u64,
}

pub struct ResultCache {
    enabled: bool,
    auto: bool,
    ttl: Duration,
    local_ttl: Duration,
    max_entry_bytes: usize,
    rules: Vec<Rule>,
    invalidators: Vec<Invalidator>,
    local: Cache<Key, Arc<Entry>>,
    remote: Option<Arc<Remote>>,
    /// Bumped by every invalidation; a call that saw it change is not kept.
    epoch: AtomicU64,
    counters: Arc<Counters>,
}

/// Each entry lives as long as its own TTL.
struct PerEntry;

impl moka::Expiry<Key, Arc<Entry>> for PerEntry {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

impl ResultCache {
    /// Build from config; with `store: redis`, connect (fails if Redis cannot be reached now).
    pub async fn from_config(cfg: &CacheConfig, separator: &str) -> Result<Self, String> {
        Self::build(cfg, separator, Arc::new(Counters::default())).await
    }

    /// A cache for a reloaded `cache:` section that goes on counting where `old` was (its
    /// counters are exported as Prometheus counters, which must not go back).
    pub async fn from_config_after(
        cfg: &CacheConfig,
        separator: &str,
        old: &ResultCache,
    ) -> Result<Self, String> {
        Self::build(cfg, separator, old.counters.clone()).await
    }

    async fn build(
        cfg: &CacheConfig,
        separator: &str,
        counters: Arc<Counters>,
    ) -> Result<Self, String> {
        let rules = cfg
            .tools
            .iter()
            .map(|(pattern, r)| Rule {
                pattern: Pattern::parse(pattern, separator),
                cache: r.cache,
                ttl: r.ttl.map_or(cfg.ttl.0, |t| t.0),
                scope: r.scope,
            })
            .collect();
        let invalidators = cfg
            .tools
            .iter()
            .filter(|(_, r)| !r.invalidated_by.is_empty())
            .map(|(pattern, r)| Invalidator {
                triggers: r
                    .invalidated_by
                    .iter()
                    .map(|t| Pattern::parse(t, separator))
                    .collect(),
                target: Pattern::parse(pattern, separator),
            })
            .collect();
        let evicted = counters.clone();
        let local = Cache::builder()
            .max_capacity(cfg.max_entries.max(1))
            .expire_after(PerEntry)
            .eviction_listener(move |_k, _v, cause| {
                if cause == RemovalCause::Size {
                    evicted.evictions.fetch_add(1, Ordering::Relaxed);
                }
            })
            .support_invalidation_closures()
            .build();
        let remote = match (cfg.enabled, cfg.store) {
            (true, CacheStore::Redis) => Some(Arc::new(
                Remote::connect(&cfg.redis_url, &cfg.key_prefix).await?,
            )),
            _ => None,
        };
        Ok(Self {
            enabled: cfg.enabled,
            auto: cfg.auto,
            ttl: cfg.ttl.0,
            local_ttl: cfg.local_ttl.0,
            max_entry_bytes: cfg.max_entry_bytes,
            rules,
            invalidators,
            local,
            remote,
            epoch: AtomicU64::new(0),
            counters,
        })
    }

    /// A cache that keeps nothing.
    pub fn off() -> Self {
        Self {
            enabled: false,
            auto: false,
            ttl: Duration::ZERO,
            local_ttl: Duration::ZERO,
            max_entry_bytes: 0,
            rules: Vec::new(),
            invalidators: Vec::new(),
            local: Cache::new(1),
            remote: None,
            epoch: AtomicU64::new(0),
            counters: Arc::default(),
        }
    }

    /// Whether and how results of tool `exposed` (`original` upstream) are cached; `hinted`
    /// says whether its upstream annotates it read-only and idempotent (asked only when no
    /// rule decides).
    pub fn plan(
        &self,
        exposed: &str,
        original: &str,
        hinted: impl FnOnce() -> bool,
    ) -> Option<Plan> {
        if !self.enabled {
            return None;
        }
        let rule = self
            .rules
            .iter()
            .find(|r| r.pattern.matches(Subject::Tool, exposed, original));
        match rule {
            Some(r) if r.cache => Some(Plan {
                ttl: r.ttl,
                scope: r.scope,
            }),
            Some(_) => None,
            None if self.auto && hinted() => Some(Plan {
                ttl: self.ttl,
                scope: CacheScope::Shared,
            }),
            None => None,
        }
    }

    /// Whether any rule says calls of some tool invalidate others.
    pub fn has_invalidators(&self) -> bool {
        !self.invalidators.is_empty()
    }

    /// The answer for `key`: kept, or from `call` (once for all identical calls in flight),
    /// kept when it may be. `call(asked)` makes the upstream call; it sets `asked` when the
    /// upstream sends the caller a request (see [`Watched`]).
    pub async fn get_or_call<F>(
        &self,
        key: Key,
        plan: Plan,
        server: usize,
        server_name: &str,
        tool: &str,
        call: impl Fn(Arc<AtomicBool>) -> F,
    ) -> Result<Box<RawValue>, ErrorObject>
    where
        F: Future<Output = Result<Box<RawValue>, ErrorObject>>,
    {
        let epoch = self.epoch.load(Ordering::Acquire);
        let ran = AtomicBool::new(false);
        // A result another replica kept, with the time it has left.
        let remote_hit = |result, left: Duration| {
            self.counters.remote_hits.fetch_add(1, Ordering::Relaxed);
            Ok(Arc::new(Entry {
                result,
                server,
                tool: Arc::from(tool),
                ttl: left.min(self.local_ttl),
            }))
        };
        let init = async {
            ran.store(true, Ordering::Relaxed);
            if let Some(r) = &self.remote
                && let Some((result, left)) = r.get(&key).await.unwrap_or_else(|e| {
                    self.store_failed(&e);
                    None
                })
            {
                return remote_hit(result, left);
            }
            // Another replica may be calling the upstream for the same key: wait for its
            // result rather than call too.
            let claimed = match &self.remote {
                Some(r) => match r.claim(&key).await {
                    Ok(remote::Claim::Kept(result, left)) => return remote_hit(result, left),
                    Ok(remote::Claim::Mine) => Some(r.clone()),
                    Ok(remote::Claim::Gone) => None,
                    Err(e) => {
                        self.store_failed(&e);
                        None
                    }
                },
                None => None,
            };
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            let asked = Arc::new(AtomicBool::new(false));
            let result = call(asked.clone()).await;
            // Whatever happens next, the claim goes once the result is kept or not: waiters
            // then find the result, or call themselves.
            let release = Release(claimed.map(|r| (r, key)));
            let result = result.map_err(Unkept::Error)?;
            if asked.load(Ordering::Acquire) {
                self.counters.unkept.fetch_add(1, Ordering::Relaxed);
                return Err(Unkept::Personal(result));
            }
            if !self.keepable(&result) || self.epoch.load(Ordering::Acquire) != epoch {
                self.counters.unkept.fetch_add(1, Ordering::Relaxed);
                return Err(Unkept::Result(result));
            }
            let ttl = match &self.remote {
                Some(r) => {
                    if let Err(e) = r.put(&key, &result, plan.ttl, server_name, tool).await {
                        self.store_failed(&e);
                    }
                    plan.ttl.min(self.local_ttl)
                }
                None => plan.ttl,
            };
            release.now().await;
            Ok(Arc::new(Entry {
                result,
                server,
                tool: Arc::from(tool),
                ttl,
            }))
        };
        match self.local.entry(key).or_try_insert_with(init).await {
            Ok(entry) => {
                if !entry.is_fresh() {
                    self.counters.hits.fetch_add(1, Ordering::Relaxed);
                }
                Ok(entry.into_value().result.clone())
            }
            Err(shared) => match &*shared {
                Unkept::Error(e) => Err(e.clone()),
                Unkept::Result(r) => Ok(r.clone()),
                Unkept::Personal(r) if ran.load(Ordering::Relaxed) => Ok(r.clone()),
                Unkept::Personal(_) => {
                    // Another caller's answer: make this caller's own.
                    self.counters.misses.fetch_add(1, Ordering::Relaxed);
                    call(Arc::new(AtomicBool::new(false))).await
                }
            },
        }
    }

    /// Whether a result may be kept.
    fn keepable(&self, result: &RawValue) -> bool {
        if result.get().len() > self.max_entry_bytes {
            return false;
        }
        let Ok(map) = RawMap::parse(result) else {
            return false;
        };
        let is_error = map.get("isError").is_some_and(|v| v.get() == "true");
        let complete = map.get_str("resultType").is_none_or(|t| t == "complete");
        !is_error && complete && !map.contains("task")
    }

    fn store_failed(&self, e: &switchboard_store::redis::RedisError) {
        // One line per failure would flood the log while Redis is down: the first, then
        // every thousandth.
        let n = self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(1000) {
            tracing::warn!(error = %e, failures = n + 1, "cache store (Redis) failed; calls go to their upstreams");
        }
    }

    /// Drop every result of server `idx` (named `name`): its tools changed.
    pub async fn invalidate_server(&self, idx: usize, name: &str) {
        if !self.enabled {
            return;
        }
        self.forget_server(idx);
        if let Some(r) = &self.remote
            && let Err(e) = r.drop_tagged(&[name], &[]).await
        {
            self.store_failed(&e);
        }
    }

    /// Drop every result of the tools named (exposed names).
    pub async fn invalidate_tools(&self, tools: &[String]) {
        if !self.enabled || tools.is_empty() {
            return;
        }
        self.forget_tools(tools);
        if let Some(r) = &self.remote
            && let Err(e) = r.drop_tagged(&[], tools).await
        {
            self.store_failed(&e);
        }
    }

    /// Drop this process's copies of server `idx`'s results (another replica dropped them
    /// from the shared store).
    pub fn forget_server(&self, idx: usize) {
        if !self.enabled {
            return;
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        self.drop_local(move |e| e.server == idx);
    }

    /// Drop this process's copies of these tools' results (exposed names).
    pub fn forget_tools(&self, tools: &[String]) {
        if !self.enabled || tools.is_empty() {
            return;
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        let names: Vec<Arc<str>> = tools.iter().map(|t| Arc::from(t.as_str())).collect();
        self.drop_local(move |e| names.contains(&e.tool));
    }

    /// Whether results live in a store replicas share (`store: redis`).
    pub fn is_shared(&self) -> bool {
        self.remote.is_some()
    }

    /// After a successful call of `exposed` (`original` upstream): the patterns of the
    /// tools whose results it invalidates (`invalidated_by` rules), if any.
    pub(crate) fn invalidated_by_call(&self, exposed: &str, original: &str) -> Vec<&Pattern> {
        self.invalidators
            .iter()
            .filter(|i| {
                i.triggers
                    .iter()
                    .any(|t| t.matches(Subject::Tool, exposed, original))
            })
            .map(|i| &i.target)
            .collect()
    }

    fn drop_local(&self, pred: impl Fn(&Entry) -> bool + Send + Sync + 'static) {
        if let Err(e) = self.local.invalidate_entries_if(move |_, v| pred(v)) {
            // Only when closures were not enabled at build time (the `off` cache).
            tracing::debug!(error = %e, "cache invalidation skipped");
        }
    }

    /// The counters now.
    /// With `store: redis`, whether Redis answers; `None` for the in-process store.
    pub async fn ping_store(&self, within: Duration) -> Option<Result<(), String>> {
        Some(self.remote.as_ref()?.ping(within).await)
    }

    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            remote_hits: c.remote_hits.load(Ordering::Relaxed),
            unkept: c.unkept.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            invalidations: c.invalidations.load(Ordering::Relaxed),
            store_errors: c.store_errors.load(Ordering::Relaxed),
            entries: self.local.entry_count(),
        }
    }

    /// Let moka finish its deferred work (evictions, counts); for tests and metrics.
    pub async fn settle(&self) {
        self.local.run_pending_tasks().await;
    }
}

/// A claim on a key in the shared store (`remote.rs`), let go when the result is kept or
/// not: by [`Release::now`] on the way out, or in the background when the call ends early.
struct Release(Option<(Arc<Remote>, Key)>);

impl Release {
    async fn now(mut self) {
        if let Some((r, key)) = self.0.take()
            && let Err(e) = r.release(&key).await
        {
            tracing::debug!(error = %e, "cache claim not released (it expires)");
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Some((r, key)) = self.0.take() {
            tokio::spawn(async move {
                let _ = r.release(&key).await;
            });
        }
    }
}

/// Whether a `tools/call` may be answered from the cache at all: not a retry of an
/// `input_required` round (its inputs are not in the key) and not a task request.
pub fn eligible(params: Option<&RawValue>) -> bool {
    let Some(p) = params else {
        return true;
    };
    let Ok(map) = RawMap::parse(p) else {
        return false;
    };
    !map.contains(switchboard_policy::request_state::REQUEST_STATE)
        && !map.contains(switchboard_policy::request_state::INPUT_RESPONSES)
        && !map.contains("task")
}

#[cfg(test)]
mod tests;
