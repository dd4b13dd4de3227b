//! The GCRA limiter, in this process and in Redis (the machine's, on 127.0.0.1:6379; CI starts
//! it): a budget admits exactly its size, says when to retry, refills evenly, and a Redis
//! budget is one budget for every replica.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::roles::Policy;

fn identity(subject: &str, role: Option<&str>) -> Identity {
    Identity {
        subject: Arc::from(subject),
        role: role.map(Arc::from),
        method: "api_key",
        policy: Policy::unrestricted(),
    }
}

fn config(rate: &str, redis_prefix: Option<&str>) -> Config {
    let store = match redis_prefix {
        Some(p) => format!(
            "rate_limits: {{store: redis, redis_url: 'redis://127.0.0.1:6379', key_prefix: '{p}'}}\n"
        ),
        None => String::new(),
    };
    let yaml = format!(
        "auth: {{anonymous_role: metered}}\nroles:\n  metered: {{allow: ['*'], rate_limit: {rate}}}\n{store}"
    );
    switchboard_config::from_str(&yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap()
}

async fn limits(rate: &str, redis_prefix: Option<&str>) -> Limits {
    Limits::from_config(&config(rate, redis_prefix))
        .await
        .unwrap_or_else(|e| {
            panic!("building the limiter failed (is Redis running on 127.0.0.1:6379?): {e}")
        })
}

fn unique_prefix() -> String {
    format!(
        "sb-test-gcra-{}-{}:",
        std::process::id(),
        rand::random::<u64>()
    )
}

/// How many of `n` requests of `who` are admitted, and the retry-after of the first refusal.
async fn spend(limits: &Limits, who: &Identity, n: usize) -> (usize, Option<Duration>) {
    let (mut admitted, mut retry) = (0, None);
    for _ in 0..n {
        match limits.check(who).await {
            Ok(()) => admitted += 1,
            Err((limited, rate)) => {
                assert_eq!(rate, "5/min");
                retry.get_or_insert(limited.retry_after);
            }
        }
    }
    (admitted, retry)
}

async fn a_budget_admits_its_size_then_says_when(limits: Limits) {
    let alice = identity("alice", Some("metered"));
    let (admitted, retry) = spend(&limits, &alice, 8).await;
    assert_eq!(admitted, 5, "a burst of the whole budget, then refusals");
    // One request's worth of time (60 s / 5) at most, and some.
    let retry = retry.expect("the sixth request is refused");
    assert!(
        retry > Duration::from_secs(6) && retry <= Duration::from_secs(12),
        "{retry:?}"
    );
    // Budgets are per subject; no role, no limit.
    assert_eq!(
        spend(&limits, &identity("bob", Some("metered")), 5).await.0,
        5
    );
    assert_eq!(spend(&limits, &identity("carol", None), 20).await.0, 20);
}

#[tokio::test]
async fn memory_budget_admits_its_size_then_says_when() {
    a_budget_admits_its_size_then_says_when(limits("5/min", None).await).await;
}

#[tokio::test]
async fn redis_budget_admits_its_size_then_says_when() {
    a_budget_admits_its_size_then_says_when(limits("5/min", Some(&unique_prefix())).await).await;
}

#[tokio::test]
async fn redis_budget_is_shared_by_replicas_and_refills_evenly() {
    let prefix = unique_prefix();
    // Two limiters on one Redis prefix: two gateway replicas.
    let (a, b) = (
        limits("4/s", Some(&prefix)).await,
        limits("4/s", Some(&prefix)).await,
    );
    let who = identity("alice", Some("metered"));
    let mut admitted = 0;
    for i in 0..10 {
        let replica = if i % 2 == 0 { &a } else { &b };
        admitted += usize::from(replica.check(&who).await.is_ok());
    }
    assert_eq!(admitted, 4, "one budget of 4 across both replicas");
    // A quarter second later one more request's worth has come back (GCRA refills evenly,
    // not all at once at the end of the period).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.check(&who).await.is_ok());
    assert!(b.check(&who).await.is_err());
    assert!(
        a.ping_store(Duration::from_secs(2))
            .await
            .is_some_and(|r| r.is_ok())
    );
}

#[tokio::test]
async fn memory_budget_refills_evenly() {
    let limits = limits("4/s", None).await;
    let who = identity("alice", Some("metered"));
    let mut admitted = 0;
    for _ in 0..10 {
        admitted += usize::from(limits.check(&who).await.is_ok());
    }
    assert_eq!(admitted, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(limits.check(&who).await.is_ok());
    assert!(limits.check(&who).await.is_err());
    assert!(limits.ping_store(Duration::from_secs(1)).await.is_none());
}

#[tokio::test]
async fn an_unreachable_redis_is_refused_at_build_naming_the_section() {
    let yaml = "auth: {anonymous_role: metered}\nroles:\n  metered: {allow: ['*'], rate_limit: 5/min}\nrate_limits: {store: redis, redis_url: 'redis://127.0.0.1:1'}\n";
    let config =
        switchboard_config::from_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap();
    let e = match Limits::from_config(&config).await {
        Err(e) => e,
        Ok(_) => panic!("a limiter without its store"),
    };
    assert!(e.contains("rate_limits"), "{e}");
}
