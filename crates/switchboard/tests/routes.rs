//! Routes (`routes:`) through the gateway, with two real `bench-upstream` processes as the
//! candidates: failover when the primary crashes under load, the circuit breaker opening and
//! closing, `adaptive` moving traffic to the faster candidate and back, hedging cutting the
//! tail of a stalled read-only tool, a tool that is not idempotent never sent twice, roles
//! applied to candidates, and `check` naming a route without candidates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn servers(extra_a: &str) -> String {
    let bin = workspace_bin("bench-upstream");
    format!(
        "servers:\n  a:\n    command: {bin:?}\n    args: [--concurrent]\n{extra_a}  b:\n    command: {bin:?}\n    args: [--concurrent]\n",
        bin = bin.display().to_string()
    )
}

fn gateway(extra_a: &str, routes: &str) -> Gateway {
    Gateway::start(&format!(
        // No result cache: every call here must reach the candidates.
        "admin: {{listen: \"127.0.0.1:0\"}}\ncache: {{enabled: false}}\n{}routes:\n{routes}",
        servers(extra_a)
    ))
}

async fn call(gw: &Gateway, tool: &str, args: Value) -> Answer {
    tool_call(&gw.url, &[], tool, args).await
}

fn text(a: &Answer) -> String {
    a.body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Calls served so far by server `s` (its `count` tool counts itself too).
async fn served(gw: &Gateway, s: &str) -> u64 {
    text(&call(gw, &format!("{s}__count"), json!({})).await)
        .trim()
        .parse()
        .unwrap()
}

async fn metrics(gw: &Gateway) -> String {
    reqwest::get(format!("{}/metrics", gw.admin.as_ref().unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_keep_succeeding_when_the_primary_crashes_under_load() {
    let gw = gateway(
        "",
        "  lookup:\n    candidates:\n      - {tool: a__slow, priority: 10}\n      - {tool: b__slow, priority: 1}\n",
    );
    // Listed under its own name, with the first candidate's schema and annotations.
    let list = modern(&gw.url, &[], "tools/list", None, json!({})).await;
    let tool = list.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "lookup")
        .unwrap_or_else(|| panic!("{}", list.body))
        .clone();
    assert_eq!(tool["annotations"]["readOnlyHint"], json!(true));
    assert_eq!(tool["inputSchema"]["properties"]["ms"]["type"], "integer");

    let (b0, url) = (served(&gw, "b").await, gw.url.clone());
    // Four clients, 60 calls each (bounded), while the primary is crashed twice.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for _ in 0..60 {
                    let a = tool_call(&url, &[], "lookup", json!({"ms": 20})).await;
                    if a.status != 200
                        || a.body.get("error").is_some()
                        || a.body["result"]["isError"] == json!(true)
                    {
                        failures.push(a.body.to_string());
                    }
                }
                failures
            })
        })
        .collect();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = call(&gw, "a__crash", json!({})).await;
    }
    for c in clients {
        let failures = c.await.unwrap();
        assert!(
            failures.is_empty(),
            "a client saw errors: {failures:?}\n{}",
            gw.logs()
        );
    }
    // The secondary took the calls the crashes cut.
    assert!(served(&gw, "b").await > b0 + 1, "{}", gw.logs());
    let m = metrics(&gw).await;
    assert!(
        metric(
            &m,
            "switchboard_route_fallbacks_total",
            &["route=\"lookup\"", "from=\"a__slow\""]
        ) >= 1.0,
        "{m}"
    );
}

const BREAKER: &str = "  lookup:
    candidates:
      - {tool: a__slow, priority: 10, args: \"${{ {ms: (.a_ms // 1)} }}\"}
      - {tool: b__slow, priority: 1, args: \"${{ {ms: 1} }}\"}
    circuit_breaker: {failures: 3, window: 30s, cooldown: 1s}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_opens_on_repeated_failure_and_a_probe_closes_it() {
    // `a` times out on slow calls: each falls back to `b`, until the breaker opens.
    let gw = gateway("    tool_timeouts: {slow: 150ms}\n", BREAKER);
    for _ in 0..6 {
        let a = call(&gw, "lookup", json!({"a_ms": 1000})).await;
        assert_eq!(text(&a), "slept 1 ms", "{:?}", a.body);
    }
    let m = metrics(&gw).await;
    let labels = ["route=\"lookup\"", "candidate=\"a__slow\""];
    assert_eq!(
        metric(
            &m,
            "switchboard_route_calls_total",
            &[labels[0], labels[1], "outcome=\"timeout\""]
        ),
        3.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "switchboard_route_calls_total",
            &[labels[0], labels[1], "outcome=\"skipped\""]
        ),
        3.0,
        "{m}"
    );
    assert_eq!(metric(&m, "switchboard_route_breaker", &labels), 2.0, "{m}");
    // /readyz names the open breaker; the route stays ready through `b`.
    let route = readyz_check(&gw, "route:lookup").await;
    assert_eq!(route["healthy"], true, "{route}");
    assert!(
        route["message"]
            .as_str()
            .unwrap()
            .ends_with("circuit breaker open: a__slow"),
        "{route}"
    );
    assert!(
        gw.logs().contains("circuit breaker opened"),
        "{}",
        gw.logs()
    );
    // While open, calls go straight to `b` (no timeout to wait for).
    let t = Instant::now();
    let a = call(&gw, "lookup", json!({"a_ms": 1000})).await;
    assert_eq!(text(&a), "slept 1 ms");
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    // After the cooldown, one call probes `a`; it answers, and the breaker closes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let a = call(&gw, "lookup", json!({"a_ms": 2})).await;
    assert_eq!(text(&a), "slept 2 ms", "{:?}", a.body);
    let m = metrics(&gw).await;
    assert_eq!(metric(&m, "switchboard_route_breaker", &labels), 0.0, "{m}");
    assert_eq!(
        metric(
            &m,
            "switchboard_route_calls_total",
            &[labels[0], labels[1], "outcome=\"ok\""]
        ),
        1.0,
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_moves_traffic_to_the_faster_candidate_and_back() {
    let gw = gateway(
        "",
        "  lookup:
    strategy: adaptive
    candidates:
      - {tool: a__slow, args: \"${{ {ms: .a_ms} }}\"}
      - {tool: b__slow, args: \"${{ {ms: .b_ms} }}\"}
",
    );
    /// The share of 80 calls `a` served, after 30 calls for the averages to settle.
    async fn share_of_a(gw: &Gateway, args: Value) -> f64 {
        for _ in 0..30 {
            let r = call(gw, "lookup", args.clone()).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        let (a0, b0) = (served(gw, "a").await, served(gw, "b").await);
        for _ in 0..80 {
            let r = call(gw, "lookup", args.clone()).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        let (a, b) = (
            served(gw, "a").await - a0 - 1,
            served(gw, "b").await - b0 - 1,
        );
        a as f64 / (a + b) as f64
    }
    // `b` is the fast one: it gets most calls.
    // (A wide gap: the averages must tell them apart on a busy machine too.)
    let a = share_of_a(&gw, json!({"a_ms": 60, "b_ms": 1})).await;
    assert!(a < 0.3, "a took {a:.2} of the calls while slower");
    // `a` recovers and `b` slows down: exploration notices, and traffic moves back.
    let a = share_of_a(&gw, json!({"a_ms": 1, "b_ms": 60})).await;
    assert!(a > 0.6, "a took {a:.2} of the calls once faster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hedging_cuts_the_tail_and_a_tool_that_is_not_idempotent_is_never_sent_twice() {
    let gw = gateway(
        "    tool_timeouts: {slow: 300ms}\n",
        "  hedged:
    hedge_after: 100ms
    candidates:
      - {tool: a__slow, priority: 10, args: \"${{ {ms: 250} }}\"}
      - {tool: b__slow, priority: 1, args: \"${{ {ms: 1} }}\"}
  plain:
    candidates:
      - {tool: a__slow, priority: 10, args: \"${{ {ms: 250} }}\"}
      - {tool: b__slow, priority: 1, args: \"${{ {ms: 1} }}\"}
  once:
    idempotent: false
    candidates:
      - {tool: a__slow, priority: 10, args: \"${{ {ms: 2000} }}\"}
      - {tool: b__slow, priority: 1}
",
    );
    let mut hedged = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let a = call(&gw, "hedged", json!({})).await;
        hedged.push(t.elapsed());
        assert_eq!(text(&a), "slept 1 ms", "{:?}", a.body);
        let t = Instant::now();
        let a = call(&gw, "plain", json!({})).await;
        plain.push(t.elapsed());
        assert_eq!(text(&a), "slept 250 ms", "{:?}", a.body);
    }
    let (worst_hedged, best_plain) = (hedged.iter().max().unwrap(), plain.iter().min().unwrap());
    assert!(
        worst_hedged < best_plain,
        "hedged {hedged:?} vs plain {plain:?}"
    );
    let m = metrics(&gw).await;
    assert!(
        metric(&m, "switchboard_route_hedges_total", &["route=\"hedged\""]) >= 5.0,
        "{m}"
    );

    // Not idempotent: a call that timed out (it may have run) is not sent to `b`.
    let b0 = served(&gw, "b").await;
    let a = call(&gw, "once", json!({"ms": 5})).await;
    assert_eq!(a.body["error"]["code"], json!(-32003), "{:?}", a.body);
    assert_eq!(served(&gw, "b").await, b0 + 1, "b was called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_apply_to_candidates_and_check_names_a_route_without_candidates() {
    let dir = scratch_dir("routes-roles");
    let yaml = format!(
        "cache: {{enabled: false}}
admin: {{listen: \"127.0.0.1:0\"}}
auth: {{api_keys: {{file: {:?}}}}}
roles:
  dev: {{allow: ['lookup', 'b__*']}}
  ops: {{allow: ['*']}}
{}routes:
  lookup:
    candidates:
      - {{tool: a__slow, priority: 10}}
      - {{tool: b__slow, priority: 1}}
  ghost:
    candidates:
      - {{tool: nowhere__tool}}
workflows:
  via_route:
    steps:
      - {{id: s, tool: lookup, args: {{ms: 3}}}}
",
        dir.join("keys.json").display().to_string(),
        servers("")
    );
    let gw = Gateway::start(&yaml);
    let dev = keys_cli(&gw.config, &["create", "--name", "dev1", "--role", "dev"]);
    let ops = keys_cli(&gw.config, &["create", "--name", "ops1", "--role", "ops"]);
    let (dev, ops) = ([("x-api-key", dev.as_str())], [("x-api-key", ops.as_str())]);
    let count = |auth: [(&'static str, String); 1]| {
        let url = gw.url.clone();
        async move {
            let auth = [(auth[0].0, auth[0].1.as_str())];
            let a = tool_call(&url, &auth, "a__count", json!({})).await;
            text(&a).trim().parse::<u64>().unwrap()
        }
    };
    let ops_owned = [("x-api-key", ops[0].1.to_owned())];
    let a0 = count(ops_owned.clone()).await;
    // `a__slow` is not the dev role's to use: the route takes `b` for it.
    let r = tool_call(&gw.url, &dev, "lookup", json!({"ms": 1})).await;
    assert_eq!(text(&r), "slept 1 ms", "{:?}", r.body);
    assert_eq!(
        count(ops_owned.clone()).await,
        a0 + 1,
        "a was called for the dev role"
    );
    // The ops role may use `a`: its call goes there.
    let r = tool_call(&gw.url, &ops, "lookup", json!({"ms": 2})).await;
    assert_eq!(text(&r), "slept 2 ms", "{:?}", r.body);
    assert_eq!(count(ops_owned).await, a0 + 3);
    // A workflow step calls a route like any tool (as its caller: `b` for the dev role).
    let r = tool_call(&gw.url, &ops, "workflows__via_route", json!({})).await;
    assert_eq!(
        r.body["result"]["structuredContent"],
        json!({"s": "slept 3 ms"}),
        "{:?}",
        r.body
    );
    // /readyz reports each route: one with a candidate up, one with none.
    assert_eq!(
        readyz_check(&gw, "route:lookup").await["healthy"],
        json!(true)
    );
    let ghost = readyz_check(&gw, "route:ghost").await;
    assert_eq!(ghost["healthy"], json!(false), "{ghost}");
    assert_eq!(ghost["message"], "no candidate is available");
    // A route none of whose candidates exists is not offered.
    let r = tool_call(&gw.url, &ops, "ghost", json!({})).await;
    assert_eq!(r.body["error"]["code"], json!(-32602), "{:?}", r.body);

    let out = std::process::Command::new(switchboard())
        .args(["check", "--config"])
        .arg(&gw.config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL route ghost: no candidate is listed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warn route ghost: candidate `nowhere__tool` is not listed by any server"),
        "{stdout}"
    );
}
