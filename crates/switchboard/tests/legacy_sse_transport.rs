//! The 2024-11-05 HTTP+SSE client transport (`http.legacy_sse`) at the wire level: the
//! stream's `endpoint` event, answers on the stream, authentication on the GET and on every
//! POST, a session only for whoever opened it, bad input answered with an error that names
//! it, the session ended with its stream, and every call audited as `http+sse`. (The SDK
//! clients over this transport are in `clients.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// An open event stream, read event by event.
struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(base: &str, key: Option<&str>) -> Result<Stream, reqwest::Response> {
        let mut req = reqwest::Client::new()
            .get(format!("{base}/sse"))
            .header("accept", "text/event-stream");
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let resp = req.send().await.unwrap();
        if resp.status() != 200 {
            return Err(resp);
        }
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Ok(Stream {
            resp,
            buf: String::new(),
        })
    }

    /// The next event (comments skipped): its type and data.
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut kind, mut data) = ("message".to_owned(), Vec::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        kind = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push(v);
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (kind, data.join("\n"));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.resp.chunk())
                .await
                .expect("no event within 20 s")
                .unwrap()
                .expect("the stream ended");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next JSON-RPC message on the stream.
    async fn message(&mut self) -> Value {
        let (kind, data) = self.next().await;
        assert_eq!(kind, "message", "{data}");
        serde_json::from_str(&data).unwrap()
    }
}

async fn post(base: &str, endpoint: &str, key: Option<&str>, body: &str) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{base}{endpoint}"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_legacy_sse_client_is_served_through_the_same_pipeline() {
    let dir = scratch_dir("legacy-sse");
    let audit = dir.join("audit.jsonl");
    let yaml = format!(
        "http:\n  legacy_sse: {{enabled: true}}\nauth:\n  api_keys: {{file: \"{keys}\"}}\nroles:\n  dev: {{allow: [\"*\"]}}\naudit: {{sink: jsonl, path: \"{audit}\"}}\nservers:\n{up}",
        keys = dir.join("keys.json").display(),
        audit = audit.display(),
        up = stdio_entry("company", &workspace_bin("company-api"), &[]),
    );
    let gw = Gateway::start(&yaml);
    let base = gw.url.trim_end_matches("/mcp").to_owned();
    let alice = keys_cli(&gw.config, &["create", "--name", "alice", "--role", "dev"]);
    let bob = keys_cli(&gw.config, &["create", "--name", "bob", "--role", "dev"]);

    // No credential, no stream.
    let refused = Stream::open(&base, None)
        .await
        .err()
        .expect("opened without a key");
    assert_eq!(refused.status(), 401);

    let mut s = Stream::open(&base, Some(&alice)).await.ok().unwrap();
    let (kind, endpoint) = s.next().await;
    assert_eq!(kind, "endpoint");
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    let k = Some(alice.as_str());

    // Bad input is refused with a reason, and the stream goes on.
    let (status, body) = post(&base, "/messages", k, "{}").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("sessionId"), "{body}");
    let (status, body) = post(&base, "/messages?sessionId=nope", k, "{}").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post(&base, &endpoint, k, "{not json").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
        -32700
    );
    // Another identity does not see the session; no credential is refused outright.
    let (status, _) = post(
        &base,
        &endpoint,
        Some(&bob),
        r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = post(
        &base,
        &endpoint,
        None,
        r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#,
    )
    .await;
    assert_eq!(status, 401);

    // The handshake and a call: each POST accepted, each answer on the stream.
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"old-agent","version":"0.1"}}});
    let (status, _) = post(&base, &endpoint, k, &init.to_string()).await;
    assert_eq!(status, 202);
    let answer = s.message().await;
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(
        answer["result"]["protocolVersion"], "2024-11-05",
        "{answer}"
    );
    let (status, _) = post(
        &base,
        &endpoint,
        k,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    assert_eq!(status, 202);
    post(
        &base,
        &endpoint,
        k,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    )
    .await;
    let list = s.message().await;
    assert_eq!(list["id"], 2, "{list}");
    assert!(
        list.to_string().contains("company__get_employee_info"),
        "{list}"
    );
    let call = json!({"jsonrpc":"2.0","id":"c-3","method":"tools/call","params":{
        "name":"company__get_employee_info","arguments":{"employee_id":"E001"}}});
    post(&base, &endpoint, k, &call.to_string()).await;
    let answer = s.message().await;
    assert_eq!(answer["id"], "c-3", "{answer}");
    assert!(answer.to_string().contains("María González"), "{answer}");

    // Closing the stream ends the session: its endpoint is gone.
    drop(s);
    let mut gone = false;
    for _ in 0..50 {
        let (status, _) = post(
            &base,
            &endpoint,
            k,
            r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#,
        )
        .await;
        if status == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the session outlived its stream");

    // Audited like any call, as this transport.
    let records: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let call = records
        .iter()
        .find(|r| r["method"] == "tools/call")
        .unwrap_or_else(|| panic!("no tools/call record in {records:?}"));
    assert_eq!(call["transport"], "http+sse", "{call}");
    assert_eq!(call["subject"], "key:alice", "{call}");
    assert_eq!(call["outcome"], "ok", "{call}");
}

#[tokio::test]
async fn the_legacy_transport_is_off_unless_configured() {
    let gw = Gateway::start(&format!(
        "servers:\n{}",
        stdio_entry("company", &workspace_bin("company-api"), &[])
    ));
    let base = gw.url.trim_end_matches("/mcp").to_owned();
    let r = Stream::open(&base, None)
        .await
        .err()
        .expect("served while off");
    assert_eq!(r.status(), 404);
    let (status, _) = post(&base, "/messages?sessionId=x", None, "{}").await;
    assert_eq!(status, 404);
}
