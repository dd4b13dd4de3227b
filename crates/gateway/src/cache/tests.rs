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
        c.plan("weather__now", "now", || false),
        Some(Plan {
            ttl: Duration::from_secs(30),
            scope: CacheScope::Role
        })
    );
    assert_eq!(c.plan("x__random_pick", "random_pick", || true), None);
    assert_eq!(
        c.plan("x__get", "get", || true).map(|p| p.ttl),
        Some(Duration::from_secs(300))
    );
    assert_eq!(c.plan("x__set", "set", || false), None);
    let off = cache(CacheConfig {
        auto: false,
        ..CacheConfig::default()
    })
    .await;
    assert_eq!(off.plan("x__get", "get", || true), None);
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
