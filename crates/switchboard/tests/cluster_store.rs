//! `cluster:` when its Redis fails: a Redis the test starts on its own port, stopped while two
//! replicas serve sessions and started again. What is documented (docs/deploy.md): sessions a
//! replica already has go on; a new session works on the replica that opened it (its record
//! could not be written) and is unknown elsewhere, answered at once rather than after a hang;
//! `/readyz` reports `store:cluster` without leaving the balancer; once Redis is back, sessions
//! are shared again, with no restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn redis(port: u16) -> Proc {
    let p = spawn(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null()),
    );
    wait_port(port, Duration::from_secs(10));
    p
}

/// A session-era (2025-11-25) POST; the status and the JSON body.
async fn post(url: &str, sid: Option<&str>, body: Value) -> (u16, Option<String>, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .timeout(Duration::from_secs(20));
    if let Some(s) = sid {
        req = req
            .header("mcp-session-id", s)
            .header("mcp-protocol-version", "2025-11-25");
    }
    let r = req.body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    let sid = r
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    (
        status,
        sid,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn open(url: &str) -> String {
    let (status, sid, body) = post(
        url,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sid = sid.unwrap();
    let (status, _, _) = post(
        url,
        Some(&sid),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert!(status == 202 || status == 404, "{status}");
    sid
}

async fn echo(url: &str, sid: &str) -> (u16, Value) {
    let (status, _, body) = post(
        url,
        Some(sid),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "up__echo", "arguments": {"text": "hi"}}}),
    )
    .await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_under_two_replicas() {
    let port = free_port();
    let mut store = redis(port);
    let bin = workspace_bin("bench-upstream");
    let yaml = format!(
        "cluster: {{url: \"redis://127.0.0.1:{port}\"}}\nadmin: {{listen: \"127.0.0.1:0\"}}\ncache: {{enabled: false}}\nservers:\n{}",
        stdio_entry("up", &bin, &[])
    );
    let (a, b) = (Gateway::start(&yaml), Gateway::start(&yaml));

    // Shared: a session opened on `a` serves on `b`.
    let shared = open(&a.url).await;
    let (status, body) = echo(&b.url, &shared).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "hi", "{body}");

    // Redis stops.
    let _ = store.child.kill();
    let _ = store.child.wait();
    // Sessions each replica has go on.
    assert_eq!(echo(&a.url, &shared).await.0, 200);
    assert_eq!(echo(&b.url, &shared).await.0, 200);
    // A new session works where it was opened, within the store's bound.
    let t = Instant::now();
    let local = open(&a.url).await;
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_eq!(echo(&a.url, &local).await.0, 200);
    // Elsewhere it is unknown: a clear 404 (the client starts a new session), not a hang.
    let t = Instant::now();
    let (status, body) = echo(&b.url, &local).await;
    assert_eq!(status, 404, "{body}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    // Reported, not required: the replica stays in its balancer.
    let ready = reqwest::get(format!("{}/readyz", a.admin.as_ref().unwrap()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    let check = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "store:cluster")
        .unwrap_or_else(|| panic!("{ready}"))
        .clone();
    assert_eq!(check["healthy"], false, "{ready}");
    assert!(
        a.logs().contains("session record not written"),
        "{}",
        a.logs()
    );

    // Redis is back (empty): sessions are shared again, without a restart.
    let _store = redis(port);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sid = open(&a.url).await;
        let (status, _) = echo(&b.url, &sid).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sessions not shared again after Redis came back:\n{}",
            a.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Neither replica died on the way.
    let (mut a, mut b) = (a, b);
    assert!(a.proc.child.try_wait().unwrap().is_none());
    assert!(b.proc.child.try_wait().unwrap().is_none());
}
