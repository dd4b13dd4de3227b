//! The tool-result cache through the real gateway, with `bench-upstream` as the upstream (a
//! stdio server answering one request at a time, with a `count` tool that says how many calls
//! reached it): identical calls in flight coalesce into one upstream call, errors are never
//! kept, writes invalidate reads, two gateway processes share results through Redis, and
//! identical calls spread over three gateways at once reach an upstream once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{Value, json};

fn bench_entry(name: &str) -> String {
    stdio_entry(name, &workspace_bin("bench-upstream"), &[])
}

/// A stateless 2026-07-28 `tools/call`; returns the first text content, or the error.
async fn call(url: &str, tool: &str, args: Value) -> Result<String, Value> {
    let v = tool_call(url, &[], tool, args).await.body;
    match v["result"]["content"][0]["text"].as_str() {
        Some(t) if v["result"]["isError"] != json!(true) => Ok(t.to_owned()),
        _ => Err(v),
    }
}

/// How many `tools/call` reached the upstream (the `count` call included).
async fn upstream_calls(url: &str) -> u64 {
    call(url, "bench__count", json!({}))
        .await
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn identical_calls_in_flight_reach_the_upstream_once() {
    // `slow` is annotated read-only and idempotent: cached with no rule.
    let gw = Gateway::start(&format!("servers:\n{}", bench_entry("bench")));
    let calls = (0..32).map(|_| {
        let url = gw.url.clone();
        tokio::spawn(async move { call(&url, "bench__slow", json!({"ms": 300})).await })
    });
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.unwrap().unwrap(), "slept 300 ms");
    }
    assert_eq!(
        upstream_calls(&gw.url).await,
        2,
        "32 identical calls, one upstream call"
    );
    // Kept: the same call again is answered without the upstream; other arguments are not.
    assert_eq!(
        call(&gw.url, "bench__slow", json!({"ms": 300}))
            .await
            .unwrap(),
        "slept 300 ms"
    );
    assert_eq!(upstream_calls(&gw.url).await, 3);
    assert_eq!(
        call(&gw.url, "bench__slow", json!({"ms": 1}))
            .await
            .unwrap(),
        "slept 1 ms"
    );
    assert_eq!(upstream_calls(&gw.url).await, 5);
}

#[tokio::test]
async fn errors_are_never_kept_and_a_write_drops_its_reads() {
    let gw = Gateway::start(&format!(
        "cache:\n  tools:\n    bench__fail: {{}}\n    bench__pid: {{invalidated_by: [\"bench__echo\"]}}\nservers:\n{}",
        bench_entry("bench")
    ));
    // `fail` answers isError: passed on, not kept, so both calls reach the upstream.
    for _ in 0..2 {
        let e = call(&gw.url, "bench__fail", json!({})).await.unwrap_err();
        assert_eq!(e["result"]["isError"], json!(true), "{e}");
    }
    // A JSON-RPC error (unknown argument type) is not kept either.
    for _ in 0..2 {
        let e = call(&gw.url, "bench__slow", json!({"ms": "soon"}))
            .await
            .unwrap_err();
        assert!(e["error"]["code"].is_i64(), "{e}");
    }
    assert_eq!(upstream_calls(&gw.url).await, 3, "two `fail`, then `count`");
    // `pid` is cached by its rule until `echo` is called.
    call(&gw.url, "bench__pid", json!({})).await.unwrap();
    call(&gw.url, "bench__pid", json!({})).await.unwrap();
    assert_eq!(upstream_calls(&gw.url).await, 5);
    call(&gw.url, "bench__echo", json!({"text": "write"}))
        .await
        .unwrap();
    call(&gw.url, "bench__pid", json!({})).await.unwrap();
    assert_eq!(
        upstream_calls(&gw.url).await,
        8,
        "echo dropped pid's result"
    );
}

#[tokio::test]
async fn a_cache_turned_off_or_a_rule_refusing_keeps_nothing() {
    for yaml in [
        "cache: {enabled: false}\n",
        "cache:\n  tools:\n    \"slow\": {cache: false}\n",
    ] {
        let gw = Gateway::start(&format!("{yaml}servers:\n{}", bench_entry("bench")));
        for _ in 0..3 {
            call(&gw.url, "bench__slow", json!({"ms": 1}))
                .await
                .unwrap();
        }
        assert_eq!(upstream_calls(&gw.url).await, 4, "{yaml}");
    }
}

#[tokio::test]
async fn two_gateways_share_results_through_redis() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("sbtest:cache:{}:{nanos}:", std::process::id());
    let yaml = format!(
        "cache: {{store: redis, redis_url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\"}}\nservers:\n{}",
        bench_entry("bench")
    );
    let (a, b) = (Gateway::start(&yaml), Gateway::start(&yaml));
    assert_eq!(
        call(&a.url, "bench__slow", json!({"ms": 5})).await.unwrap(),
        "slept 5 ms"
    );
    // B's own upstream never sees the call: B reads A's result from Redis.
    assert_eq!(
        call(&b.url, "bench__slow", json!({"ms": 5})).await.unwrap(),
        "slept 5 ms"
    );
    assert_eq!(upstream_calls(&b.url).await, 1);
    assert_eq!(upstream_calls(&a.url).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_calls_spread_over_three_gateways_reach_an_upstream_once() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("sbtest:coalesce:{}:{nanos}:", std::process::id());
    let yaml = format!(
        "cache: {{store: redis, redis_url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\"}}\nservers:\n{}",
        bench_entry("bench")
    );
    // Each gateway has its own upstream process: their counts add up to the upstream calls.
    let gws: Vec<Gateway> = (0..3).map(|_| Gateway::start(&yaml)).collect();
    let calls = (0..9).map(|i| {
        let url = gws[i % 3].url.clone();
        tokio::spawn(async move { call(&url, "bench__slow", json!({"ms": 400})).await })
    });
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.unwrap().unwrap(), "slept 400 ms");
    }
    let mut slow_calls = 0;
    for g in &gws {
        // `count` counts itself.
        slow_calls += upstream_calls(&g.url).await - 1;
    }
    assert_eq!(slow_calls, 1, "9 identical calls over 3 gateways");
}
