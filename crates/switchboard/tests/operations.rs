//! Operations: `/metrics` scraped after real calls through a real upstream and parsed by the
//! official Prometheus client's parser; `/readyz` turning 503 when a required upstream dies
//! and 200 when it is back; `/healthz` on both listeners; cache invalidation from the admin
//! listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Parse an exposition with `prometheus_client.parser` (tests/harness/clients/parse_metrics.py).
fn parse(exposition: &str) -> Vec<Value> {
    let out = output_with_stdin(
        Command::new(python()).arg(harness().join("clients/parse_metrics.py")),
        exposition.as_bytes(),
    );
    assert!(
        out.status.success(),
        "the Prometheus parser rejected the exposition: {}\n{exposition}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The value of the one sample named `name` whose labels include `labels`; `None` if absent.
fn sample(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = samples
        .iter()
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .collect();
    assert!(
        found.len() <= 1,
        "{name}{labels:?} matches {} samples",
        found.len()
    );
    found.first().copied()
}

async fn scrape(admin: &str) -> (String, Vec<Value>) {
    let r = reqwest::get(format!("{admin}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ctype.starts_with("text/plain"), "{ctype}");
    let text = r.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_real_calls_by_tool_status_and_role() {
    let dir = scratch_dir("ops-metrics");
    let keys = dir.join("keys.json");
    let yaml = format!(
        r#"admin: {{listen: "127.0.0.1:0"}}
auth:
  api_keys: {{file: "{keys}"}}
roles:
  admin: {{allow: ["*"]}}
  viewer: {{allow: ["bench__echo"]}}
  metered: {{allow: ["*"], rate_limit: "2/hour"}}
servers:
{bench}"#,
        keys = keys.display(),
        bench = stdio_entry("bench", &workspace_bin("bench-upstream"), &[]),
    );
    // Keys first (the gateway reads the file at start and when it changes).
    let config = tmp_file("ops-metrics.yaml", &yaml);
    let admin_key = keys_cli(&config, &["create", "--name", "a", "--role", "admin"]);
    let viewer_key = keys_cli(&config, &["create", "--name", "v", "--role", "viewer"]);
    let metered_key = keys_cli(&config, &["create", "--name", "m", "--role", "metered"]);
    let gw = Gateway::start(&yaml);
    let admin = gw.admin.clone().expect("admin listener announced");
    let url = gw.url.clone();
    let as_admin = [("x-api-key", admin_key.as_str())];
    let as_viewer = [("x-api-key", viewer_key.as_str())];
    let as_metered = [("x-api-key", metered_key.as_str())];

    for i in 0..3 {
        let a = tool_call(
            &url,
            &as_admin,
            "bench__echo",
            json!({"text": i.to_string()}),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let failed = tool_call(&url, &as_admin, "bench__fail", json!({})).await;
    assert_eq!(failed.body["result"]["isError"], true, "{}", failed.body);
    // A name that is nobody's: counted under `_unknown`, never under the name sent.
    tool_call(&url, &as_admin, "no_such_tool_9f3a", json!({})).await;
    // Denied: the viewer may only call echo.
    let denied = tool_call(&url, &as_viewer, "bench__pid", json!({})).await;
    assert!(denied.body["error"].is_object(), "{}", denied.body);
    // Rate limited: the third call of a 2/hour role.
    for _ in 0..3 {
        tool_call(&url, &as_metered, "bench__echo", json!({"text": "m"})).await;
    }
    // The cache: the same read-only call twice (one miss, one hit).
    for _ in 0..2 {
        let a = tool_call(&url, &as_admin, "bench__slow", json!({"ms": 1})).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    // A session-era client holds a connection open.
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"ops","version":"1"}}});
    let r = reqwest::Client::new()
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .header("x-api-key", &admin_key)
        .json(&init)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let (text, s) = scrape(&admin).await;
    let req = |tool: &str, status: &str, role: &str| {
        sample(
            &s,
            "mcp_requests_total",
            &[
                ("method", "tools/call"),
                ("tool", tool),
                ("status", status),
                ("user_role", role),
            ],
        )
    };
    assert_eq!(req("bench__echo", "success", "admin"), Some(3.0), "{text}");
    assert_eq!(
        req("bench__fail", "tool_error", "admin"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(req("_unknown", "invalid", "admin"), Some(1.0), "{text}");
    assert!(
        !text.contains("no_such_tool_9f3a"),
        "user input in a label:\n{text}"
    );
    assert_eq!(req("bench__pid", "denied", "viewer"), Some(1.0), "{text}");
    assert_eq!(
        req("bench__echo", "success", "metered"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        req("bench__echo", "rate_limited", "metered"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &s,
            "mcp_rate_limit_rejections_total",
            &[("user_role", "metered")]
        ),
        Some(1.0)
    );
    // The histogram: buckets (fine ones below 0.1 s and the reference's), count and sum.
    let dur = |name: &str, extra: &[(&str, &str)]| {
        let mut l = vec![("method", "tools/call"), ("tool", "bench__echo")];
        l.extend_from_slice(extra);
        sample(&s, name, &l)
    };
    // 3 admin + 3 metered (the refused one too) calls of echo.
    assert_eq!(dur("mcp_request_duration_seconds_count", &[]), Some(6.0));
    assert!(dur("mcp_request_duration_seconds_sum", &[]).unwrap() > 0.0);
    let mut last = 0.0;
    for le in [
        "0.0005", "0.001", "0.005", "0.1", "0.5", "1", "2", "5", "10", "+Inf",
    ] {
        let v = dur("mcp_request_duration_seconds_bucket", &[("le", le)])
            .unwrap_or_else(|| panic!("no bucket le={le}:\n{text}"));
        assert!(v >= last, "buckets must not decrease (le={le})");
        last = v;
    }
    assert_eq!(last, 6.0);
    // Eras, upstream, cache, connections, process.
    assert!(sample(&s, "mcp_era_requests_total", &[("era", "modern")]).unwrap() >= 11.0);
    assert_eq!(
        sample(&s, "mcp_upstream_up", &[("server", "bench")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&s, "mcp_upstream_in_flight", &[("server", "bench")]),
        Some(0.0)
    );
    let upstream_calls = sample(
        &s,
        "mcp_upstream_request_duration_seconds_count",
        &[("server", "bench")],
    )
    .unwrap();
    // 3 echo + fail + 2 metered echo + 1 slow (+ the gateway's own list calls).
    assert!(upstream_calls >= 7.0, "{upstream_calls}");
    assert_eq!(sample(&s, "mcp_cache_hits_total", &[]), Some(1.0), "{text}");
    assert_eq!(
        sample(&s, "mcp_cache_misses_total", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&s, "mcp_cache_entries", &[]), Some(1.0), "{text}");
    assert!(sample(&s, "mcp_active_connections", &[]).unwrap() >= 1.0);
    assert!(sample(&s, "process_resident_memory_bytes", &[]).unwrap() > 1e6);
    assert_eq!(
        sample(
            &s,
            "switchboard_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    let types: std::collections::HashMap<String, String> = s
        .iter()
        .map(|x| {
            (
                x["family"].as_str().unwrap().to_owned(),
                x["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(types["mcp_requests"], "counter");
    assert_eq!(types["mcp_request_duration_seconds"], "histogram");
    assert_eq!(types["mcp_active_connections"], "gauge");

    // Explicit invalidation from the admin listener drops the kept result. (Counted from
    // here: the upstream's first status change after start may also queue a tools refresh,
    // which invalidates its results once, depending on timing.)
    let (_, before) = scrape(&admin).await;
    let invalidated = sample(&before, "mcp_cache_invalidations_total", &[]).unwrap_or(0.0);
    let r = reqwest::Client::new()
        .post(format!("{admin}/cache/invalidate?tool=bench__slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tool_call(&url, &as_admin, "bench__slow", json!({"ms": 1})).await;
    let (_, s) = scrape(&admin).await;
    assert_eq!(sample(&s, "mcp_cache_misses_total", &[]), Some(2.0));
    assert_eq!(
        sample(&s, "mcp_cache_invalidations_total", &[]),
        Some(invalidated + 1.0)
    );
    let r = reqwest::Client::new()
        .post(format!("{admin}/cache/invalidate?server=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn readyz(base: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Poll `/readyz` until it answers `want` (bounded).
async fn wait_ready(base: &str, want: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = readyz(base).await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {status}, wanted {want}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn check<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_a_required_upstream_down_and_back() {
    // `bench` is required and restarts 2 s after a crash; `optional` never starts (a command
    // that does not exist) and is reported without making the gateway unready.
    let yaml = format!(
        r#"admin:
  listen: "127.0.0.1:0"
  readiness: {{required_upstreams: ["bench"]}}
servers:
{bench}    restart: {{initial_backoff: 2s}}
  optional:
    command: /nonexistent/switchboard-test-server
"#,
        bench = stdio_entry("bench", &workspace_bin("bench-upstream"), &[]),
    );
    let gw = Gateway::start(&yaml);
    let admin = gw.admin.clone().unwrap();
    let body = wait_ready(&admin, 200, Duration::from_secs(10)).await;
    assert_eq!(body["healthy"], true);
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");
    assert_eq!(check(&body, "upstream:bench")["healthy"], true);
    let optional = check(&body, "upstream:optional");
    assert_eq!(optional["healthy"], false, "{body}");
    assert_eq!(optional["required"], false, "{body}");
    for name in ["memory", "disk", "draining"] {
        assert_eq!(check(&body, name)["healthy"], true, "{body}");
    }
    // The same answer on the client listener, and liveness on both.
    let main = gw.url.trim_end_matches("/mcp").to_owned();
    assert_eq!(readyz(&main).await.0, 200);
    for base in [&admin, &main] {
        let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
        assert_eq!(r.status(), 200);
    }

    // The required upstream dies: not ready, naming it; back after its restart.
    tool_call(&gw.url, &[], "bench__crash", json!({})).await;
    let body = wait_ready(&admin, 503, Duration::from_secs(5)).await;
    assert_eq!(body["healthy"], false);
    let bench = check(&body, "upstream:bench");
    assert_eq!(bench["healthy"], false, "{body}");
    assert!(!bench["message"].as_str().unwrap().is_empty());
    let body = wait_ready(&admin, 200, Duration::from_secs(15)).await;
    assert_eq!(check(&body, "upstream:bench")["healthy"], true);
    let (_, s) = scrape(&admin).await;
    assert!(sample(&s, "mcp_upstream_restarts_total", &[("server", "bench")]).unwrap() >= 1.0);
}

#[test]
fn admin_config_mistakes_are_reported_by_check() {
    let yaml = r#"admin:
  listen: "not an address"
  readiness: {required_upstreams: ["ghost"], min_free_disk: "lots"}
telemetry: {sample_ratio: 2.0}
servers: {}
"#;
    let config = tmp_file("ops-bad.yaml", yaml);
    let out = Command::new(switchboard())
        .args(["check", "--offline", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "admin.listen",
        "admin.readiness.required_upstreams[0]",
        "ghost",
        "admin.readiness.min_free_disk",
        "telemetry.sample_ratio",
    ] {
        assert!(err.contains(needle), "missing {needle}:\n{err}");
    }
}
