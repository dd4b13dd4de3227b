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
//! `local_ttl` (which bounds how stale a replica can be after another invalidates) and still
//! coalesces its own identical calls.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::notification::RemovalCause;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use switchboard_config::{CacheConfig, CacheScope, CacheStore};
use switchboard_protocol::{ErrorObject, RawMap};

use crate::policy::{Pattern, Subject};

/// A cache key: the SHA-256 described in the module docs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Key([u8; 32]);

impl Key {
    fn hex(&self) -> String {
        crate::audit::hex(&self.0)
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

struct Remote {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    store: redis::Script,
    drop_tagged: redis::Script,
}

/// SET the entry with its TTL and add it to its tag sets (which live as long as their
/// longest-lived member).
const STORE: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  end
end
return 1
";

/// Delete every entry in the given tag sets, and the sets.
const DROP_TAGGED: &str = r"
local n = 0
for i = 1, #KEYS do
  local members = redis.call('SMEMBERS', KEYS[i])
  for j = 1, #members, 500 do
    redis.call('DEL', unpack(members, j, math.min(j + 499, #members)))
  end
  n = n + #members
  redis.call('DEL', KEYS[i])
end
return n
";

pub struct ResultCache {
    enabled: bool,
    auto: bool,
    ttl: Duration,
    local_ttl: Duration,
    max_entry_bytes: usize,
    rules: Vec<Rule>,
    invalidators: Vec<Invalidator>,
    local: Cache<Key, Arc<Entry>>,
    remote: Option<Remote>,
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
        let counters = Arc::new(Counters::default());
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
            (true, CacheStore::Redis) => Some(Remote {
                conn: crate::limits::connect_redis(&cfg.redis_url, "cache").await?,
                prefix: cfg.key_prefix.clone(),
                store: redis::Script::new(STORE),
                drop_tagged: redis::Script::new(DROP_TAGGED),
            }),
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

    /// Whether and how results of tool `exposed` (`original` upstream) are cached; `hinted`:
    /// its upstream annotates it read-only and idempotent.
    pub fn plan(&self, exposed: &str, original: &str, hinted: bool) -> Option<Plan> {
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
            None if self.auto && hinted => Some(Plan {
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
        let init = async {
            ran.store(true, Ordering::Relaxed);
            if let Some(r) = &self.remote
                && let Some((result, left)) = self.remote_get(r, &key).await
            {
                self.counters.remote_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Arc::new(Entry {
                    result,
                    server,
                    tool: Arc::from(tool),
                    ttl: left.min(self.local_ttl),
                }));
            }
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            let asked = Arc::new(AtomicBool::new(false));
            let result = call(asked.clone()).await.map_err(Unkept::Error)?;
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
                    self.remote_put(r, &key, &result, plan.ttl, server_name, tool)
                        .await;
                    plan.ttl.min(self.local_ttl)
                }
                None => plan.ttl,
            };
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

    async fn remote_get(&self, r: &Remote, key: &Key) -> Option<(Box<RawValue>, Duration)> {
        let mut conn = r.conn.clone();
        let entry = format!("{}e:{}", r.prefix, key.hex());
        let answer: redis::RedisResult<(Option<String>, i64)> = redis::pipe()
            .get(&entry)
            .pttl(&entry)
            .query_async(&mut conn)
            .await;
        match answer {
            Ok((Some(text), left)) if left > 0 => {
                let result = RawValue::from_string(text).ok()?;
                Some((result, Duration::from_millis(left.unsigned_abs())))
            }
            Ok(_) => None,
            Err(e) => {
                self.store_failed(&e);
                None
            }
        }
    }

    async fn remote_put(
        &self,
        r: &Remote,
        key: &Key,
        result: &RawValue,
        ttl: Duration,
        server: &str,
        tool: &str,
    ) {
        let mut conn = r.conn.clone();
        let answer: redis::RedisResult<i64> = r
            .store
            .key(format!("{}e:{}", r.prefix, key.hex()))
            .key(format!("{}s:{server}", r.prefix))
            .key(format!("{}t:{tool}", r.prefix))
            .arg(result.get())
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1))
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = answer {
            self.store_failed(&e);
        }
    }

    fn store_failed(&self, e: &redis::RedisError) {
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
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        self.drop_local(move |e| e.server == idx);
        if let Some(r) = &self.remote {
            self.drop_remote(r, &[format!("{}s:{name}", r.prefix)])
                .await;
        }
    }

    /// Drop every result of the tools named (exposed names).
    pub async fn invalidate_tools(&self, tools: &[String]) {
        if !self.enabled || tools.is_empty() {
            return;
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
        let names: Vec<Arc<str>> = tools.iter().map(|t| Arc::from(t.as_str())).collect();
        self.drop_local(move |e| names.contains(&e.tool));
        if let Some(r) = &self.remote {
            let tags: Vec<String> = tools.iter().map(|t| format!("{}t:{t}", r.prefix)).collect();
            self.drop_remote(r, &tags).await;
        }
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

    async fn drop_remote(&self, r: &Remote, tags: &[String]) {
        let mut conn = r.conn.clone();
        let mut call = r.drop_tagged.prepare_invoke();
        for t in tags {
            call.key(t);
        }
        let answer: redis::RedisResult<i64> = call.invoke_async(&mut conn).await;
        if let Err(e) = answer {
            self.store_failed(&e);
        }
    }

    /// The counters now.
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

/// Whether a `tools/call` may be answered from the cache at all: not a retry of an
/// `input_required` round (its inputs are not in the key) and not a task request.
pub fn eligible(params: Option<&RawValue>) -> bool {
    let Some(p) = params else {
        return true;
    };
    let Ok(map) = RawMap::parse(p) else {
        return false;
    };
    !map.contains(crate::mrtr::REQUEST_STATE)
        && !map.contains(crate::mrtr::INPUT_RESPONSES)
        && !map.contains("task")
}

/// What besides the tool and its arguments a key depends on.
pub struct KeyParts<'a> {
    /// The client's protocol era (results are shaped per era).
    pub era: u8,
    pub tool: &'a str,
    /// Role, identity or session, per the plan's scope and the server's isolation.
    pub scope: &'a str,
}

/// The key of a call: see the module docs. Fails only on params that are not an object.
pub fn key(parts: &KeyParts<'_>, params: Option<&RawValue>) -> Result<Key, ErrorObject> {
    let mut h = Sha256::new();
    h.update([parts.era]);
    for s in [parts.tool, parts.scope] {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    let args = match params {
        Some(p) => RawMap::parse(p)
            .map_err(|e| ErrorObject::invalid_params(format!("params: {e}")))?
            .get("arguments")
            .map(|a| serde_json::from_str::<serde_json::Value>(a.get()))
            .transpose()
            .map_err(|e| ErrorObject::invalid_params(format!("arguments: {e}")))?,
        None => None,
    };
    let mut canon = Vec::with_capacity(64);
    match &args {
        Some(v) => canonical(v, &mut canon),
        None => canon.extend_from_slice(b"-"),
    }
    h.update(&canon);
    Ok(Key(h.finalize().into()))
}

/// JSON with object keys sorted at every level and no insignificant whitespace.
fn canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(k, out);
                out.push(b':');
                if let Some(child) = map.get(k) {
                    canonical(child, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => string(s, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(serde_json::Value::from(s).to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_config::CacheRule;
    use switchboard_protocol::to_raw;

    fn raw(v: serde_json::Value) -> Box<RawValue> {
        to_raw(&v)
    }

    fn k(tool: &str, scope: &str, params: Option<serde_json::Value>) -> Option<Key> {
        let params = params.map(raw);
        key(
            &KeyParts {
                era: 0,
                tool,
                scope,
            },
            params.as_deref(),
        )
        .ok()
    }

    #[test]
    fn argument_order_and_meta_do_not_change_the_key() {
        let args =
            serde_json::json!({"name": "t", "arguments": {"a": 1, "b": {"y": [1, 2], "x": "s"}}});
        let a = k("t", "", Some(args.clone()));
        assert!(a.is_some());
        let reordered = serde_json::json!({"_meta": {"progressToken": 7}, "arguments": {"b": {"x": "s", "y": [1, 2]}, "a": 1}, "name": "t"});
        assert_eq!(a, k("t", "", Some(reordered)));
        let changed =
            serde_json::json!({"name": "t", "arguments": {"a": 2, "b": {"y": [1, 2], "x": "s"}}});
        assert_ne!(a, k("t", "", Some(changed)));
        assert_ne!(a, k("u", "", Some(args.clone())));
        assert_ne!(a, k("t", "role:viewer", Some(args)));
        // Separate fields cannot run into each other.
        assert_ne!(k("ab", "c", None), k("a", "bc", None));
        // Params that are not an object are refused, not hashed.
        assert_eq!(k("t", "", Some(serde_json::json!([1]))), None);
    }

    #[test]
    fn retries_and_task_requests_bypass_the_cache() {
        assert!(eligible(None));
        assert!(eligible(Some(&raw(serde_json::json!({"name": "t"})))));
        assert!(!eligible(Some(&raw(
            serde_json::json!({"name": "t", "requestState": "x"})
        ))));
        assert!(!eligible(Some(&raw(
            serde_json::json!({"name": "t", "inputResponses": {}})
        ))));
        assert!(!eligible(Some(&raw(
            serde_json::json!({"name": "t", "task": {"ttl": 1000}})
        ))));
    }

    async fn cache(cfg: CacheConfig) -> ResultCache {
        match ResultCache::from_config(&cfg, "__").await {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn rules_beat_hints_and_a_rule_can_refuse() {
        let mut cfg = CacheConfig::default();
        cfg.tools.insert(
            "weather__*".into(),
            CacheRule {
                ttl: Some(switchboard_config::Dur::secs(30)),
                scope: CacheScope::Role,
                ..CacheRule::default()
            },
        );
        cfg.tools.insert(
            "random_*".into(),
            CacheRule {
                cache: false,
                ..CacheRule::default()
            },
        );
        let c = cache(cfg).await;
        assert_eq!(
            c.plan("weather__now", "now", false),
            Some(Plan {
                ttl: Duration::from_secs(30),
                scope: CacheScope::Role
            })
        );
        assert_eq!(c.plan("x__random_pick", "random_pick", true), None);
        assert_eq!(
            c.plan("x__get", "get", true).map(|p| p.ttl),
            Some(Duration::from_secs(300))
        );
        assert_eq!(c.plan("x__set", "set", false), None);
        let off = cache(CacheConfig {
            auto: false,
            ..CacheConfig::default()
        })
        .await;
        assert_eq!(off.plan("x__get", "get", true), None);
    }

    #[tokio::test]
    async fn identical_calls_in_flight_become_one_and_errors_are_not_kept() {
        let c = Arc::new(cache(CacheConfig::default()).await);
        let calls = Arc::new(AtomicU64::new(0));
        let plan = Plan {
            ttl: Duration::from_secs(60),
            scope: CacheScope::Shared,
        };
        let k = Key([0; 32]);
        let mut joins = Vec::new();
        for _ in 0..16 {
            let (c, calls) = (c.clone(), calls.clone());
            joins.push(tokio::spawn(async move {
                c.get_or_call(k, plan, 0, "s", "t", |_| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Ok(raw(serde_json::json!({"content": []})))
                })
                .await
            }));
        }
        for j in joins {
            let r = j
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.message));
            assert_eq!(
                r.map(|v| v.get().to_owned()).as_deref(),
                Ok(r#"{"content":[]}"#)
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let s = c.stats();
        assert_eq!((s.misses, s.hits), (1, 15));

        // isError results and errors reach the caller and are not kept.
        let k2 = Key([1; 32]);
        for _ in 0..2 {
            let r = c
                .get_or_call(k2, plan, 0, "s", "u", |_| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(raw(serde_json::json!({"content": [], "isError": true})))
                })
                .await;
            assert!(r.is_ok_and(|v| v.get().contains("isError")));
        }
        for _ in 0..2 {
            let r = c
                .get_or_call(k2, plan, 0, "s", "u", |_| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(ErrorObject::internal("boom"))
                })
                .await;
            assert!(r.is_err());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert_eq!(c.stats().unkept, 2);
    }

    /// A result made with the caller's input (the upstream asked it something) is not kept,
    /// and a caller that waited on it makes its own call instead of getting another's answer.
    #[tokio::test]
    async fn a_result_that_asked_the_caller_is_not_shared() {
        let c = Arc::new(cache(CacheConfig::default()).await);
        let plan = Plan {
            ttl: Duration::from_secs(60),
            scope: CacheScope::Shared,
        };
        let calls = Arc::new(AtomicU64::new(0));
        let mut joins = Vec::new();
        for who in 0..2u64 {
            let (c, calls) = (c.clone(), calls.clone());
            joins.push(tokio::spawn(async move {
                c.get_or_call(Key([5; 32]), plan, 0, "s", "roots", |asked| {
                    let calls = calls.clone();
                    async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        asked.store(true, Ordering::Release);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(raw(serde_json::json!({"content": [], "who": who})))
                    }
                })
                .await
                .map(|r| r.get().to_owned())
            }));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let answers: Vec<String> = futures_util::future::join_all(joins)
            .await
            .into_iter()
            .map(|j| j.unwrap().unwrap())
            .collect();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(
            answers[0].contains("\"who\":0") && answers[1].contains("\"who\":1"),
            "{answers:?}"
        );
    }

    #[tokio::test]
    async fn invalidation_drops_results_and_a_call_straddling_it_is_not_kept() {
        let c = Arc::new(cache(CacheConfig::default()).await);
        let plan = Plan {
            ttl: Duration::from_secs(60),
            scope: CacheScope::Shared,
        };
        let calls = Arc::new(AtomicU64::new(0));
        let call = |calls: Arc<AtomicU64>| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(raw(serde_json::json!({"content": []})))
        };
        let k = Key([0; 32]);
        c.get_or_call(k, plan, 3, "a", "a__t", |_| call(calls.clone()))
            .await
            .ok();
        c.get_or_call(k, plan, 3, "a", "a__t", |_| call(calls.clone()))
            .await
            .ok();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        c.invalidate_server(3, "a").await;
        c.get_or_call(k, plan, 3, "a", "a__t", |_| call(calls.clone()))
            .await
            .ok();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        c.invalidate_tools(&["a__t".into()]).await;
        c.get_or_call(k, plan, 3, "a", "a__t", |_| call(calls.clone()))
            .await
            .ok();
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        // A call during which an invalidation happens is passed on, not kept.
        let k2 = Key([2; 32]);
        let c2 = c.clone();
        c.get_or_call(k2, plan, 3, "a", "a__u", |_| {
            let c2 = c2.clone();
            async move {
                c2.invalidate_server(3, "a").await;
                Ok(raw(serde_json::json!({"content": []})))
            }
        })
        .await
        .ok();
        let again = Arc::new(AtomicU64::new(0));
        c.get_or_call(k2, plan, 3, "a", "a__u", |_| call(again.clone()))
            .await
            .ok();
        assert_eq!(again.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_size_bound_evicts() {
        let c = cache(CacheConfig {
            max_entries: 10,
            ..CacheConfig::default()
        })
        .await;
        let plan = Plan {
            ttl: Duration::from_secs(60),
            scope: CacheScope::Shared,
        };
        for i in 0..100u64 {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&i.to_le_bytes());
            c.get_or_call(Key(b), plan, 0, "s", "t", |_| async {
                Ok(raw(serde_json::json!({"content": []})))
            })
            .await
            .ok();
        }
        c.settle().await;
        let s = c.stats();
        assert!(s.entries <= 10, "{s:?}");
        assert!(s.evictions >= 80, "{s:?}");
    }

    /// Two caches on one Redis (two replicas): one's result answers the other; an
    /// invalidation on either drops it from Redis, and the other's near copy ends with
    /// `local_ttl`. Needs the Redis on 127.0.0.1:6379 that `.ci/setup` starts.
    #[tokio::test]
    async fn replicas_share_results_through_redis() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let cfg = CacheConfig {
            store: CacheStore::Redis,
            key_prefix: format!("sbtest:cache-unit:{}:{nanos}:", std::process::id()),
            local_ttl: switchboard_config::Dur::millis(100),
            ..CacheConfig::default()
        };
        let (a, b) = (cache(cfg.clone()).await, cache(cfg).await);
        let plan = Plan {
            ttl: Duration::from_secs(60),
            scope: CacheScope::Shared,
        };
        let calls = Arc::new(AtomicU64::new(0));
        let call = |calls: Arc<AtomicU64>| async move {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Ok(raw(serde_json::json!({"content": [], "n": n})))
        };
        let k = Key([7; 32]);
        let first = a
            .get_or_call(k, plan, 0, "s", "s__t", |_| call(calls.clone()))
            .await;
        let second = b
            .get_or_call(k, plan, 0, "s", "s__t", |_| call(calls.clone()))
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            first.map(|r| r.get().to_owned()).ok(),
            second.map(|r| r.get().to_owned()).ok()
        );
        assert_eq!(b.stats().remote_hits, 1);
        b.invalidate_tools(&["s__t".into()]).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        a.get_or_call(k, plan, 0, "s", "s__t", |_| call(calls.clone()))
            .await
            .ok();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "a asked Redis again and missed"
        );
        assert_eq!(a.stats().store_errors + b.stats().store_errors, 0);
    }

    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let c = cache(CacheConfig::default()).await;
        let plan = Plan {
            ttl: Duration::from_millis(100),
            scope: CacheScope::Shared,
        };
        let calls = Arc::new(AtomicU64::new(0));
        let k = Key([9; 32]);
        for pause in [0, 0, 250] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let calls = calls.clone();
            c.get_or_call(k, plan, 0, "s", "t", |_| {
                let calls = calls.clone();
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(raw(serde_json::json!({"content": []})))
                }
            })
            .await
            .ok();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
