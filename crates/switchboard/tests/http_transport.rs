//! The Streamable HTTP endpoint at the wire level, with a plain HTTP client: sessions, headers,
//! content negotiation, DNS-rebinding protection, limits, and malformed input. After every bad
//! request the gateway must still serve good ones. (Stateless 2026-07-28 requests are in
//! `http_transport_modern.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::raw_http::*;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn sessions_versions_and_lifecycle() {
    let gw = gateway();
    let url = &gw.url;
    let r = post(url, None, INIT).await;
    assert_eq!(r.json()["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(r.json()["result"]["serverInfo"]["name"], "switchboard");
    // Negotiating down to an older revision, and up from an unknown one.
    let old = post(url, None, &INIT.replace("2025-11-25", "2025-03-26")).await;
    assert_eq!(old.json()["result"]["protocolVersion"], "2025-03-26");
    let unknown = post(url, None, &INIT.replace("2025-11-25", "1999-01-01")).await;
    assert_eq!(unknown.json()["result"]["protocolVersion"], "2025-11-25");

    let sid = initialize(url).await;
    let list = post(
        url,
        Some(&sid),
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(list.headers["content-type"], "application/json");
    let names: Vec<String> = list.json()["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        names.contains(&"company__search_documents".to_owned())
            && names.contains(&"conf__test_simple_text".to_owned()),
        "{names:?}"
    );

    // No session header, an unknown one.
    let r = post(
        url,
        None,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Mcp-Session-Id"), "{}", r.body);
    let r = post(
        url,
        Some("no-such-session"),
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Version header: unsupported, and different from the session's.
    let bad = send(
        reqwest::Method::POST,
        url,
        Some(&sid),
        Some(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#),
        &[("mcp-protocol-version", "1999-01-01")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("Unsupported MCP-Protocol-Version"),
        "{}",
        bad.body
    );
    let mismatch = send(
        reqwest::Method::POST,
        url,
        Some(&sid),
        Some(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#),
        &[("mcp-protocol-version", "2025-06-18")],
    )
    .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    let ok = send(
        reqwest::Method::POST,
        url,
        Some(&sid),
        Some(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#),
        &[("mcp-protocol-version", "2025-11-25")],
    )
    .await;
    assert_eq!(ok.json()["result"], json!({}));

    // DELETE ends the session; it is then unknown.
    let d = send(reqwest::Method::DELETE, url, Some(&sid), None, &[]).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(
        post(
            url,
            Some(&sid),
            r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(reqwest::Method::DELETE, url, Some(&sid), None, &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(reqwest::Method::PUT, url, None, Some("{}"), &[])
            .await
            .status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn malformed_and_hostile_requests_get_clear_errors() {
    let gw = gateway();
    let url = &gw.url;
    let sid = initialize(url).await;

    let r = post(url, Some(&sid), "{not json").await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::BAD_REQUEST, -32700)
    );
    let r = post(
        url,
        Some(&sid),
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
    )
    .await;
    assert_eq!(r.error_code(), -32600);
    assert!(r.body.contains("batches are not supported"), "{}", r.body);
    let r = post(
        url,
        Some(&sid),
        r#"{"jsonrpc":"2.0","id":7,"method":"no/such/method"}"#,
    )
    .await;
    assert_eq!((r.status, r.error_code()), (StatusCode::OK, -32601));
    assert_eq!(r.json()["id"], 7);
    let r = post(url, Some(&sid), r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"nope__nothing","arguments":{}}}"#).await;
    assert_eq!(r.error_code(), -32602);
    assert!(r.body.contains("Unknown tool: nope__nothing"), "{}", r.body);
    let r = post(
        url,
        Some(&sid),
        r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{}}}"#,
    )
    .await;
    assert_eq!(r.error_code(), -32602);
    let r = post(
        url,
        Some(&sid),
        r#"{"jsonrpc":"2.0","id":10,"method":"tools/list","params":{"cursor":"garbage"}}"#,
    )
    .await;
    assert!(r.body.contains("invalid cursor"), "{}", r.body);

    // Body limit (65536 in this config), content type, accept.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":11,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(70_000)
    );
    let r = post(url, Some(&sid), &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body.contains("max_body_bytes"), "{}", r.body);
    let r = send(
        reqwest::Method::POST,
        url,
        Some(&sid),
        Some(INIT),
        &[("content-type", "text/plain")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = send(
        reqwest::Method::POST,
        url,
        Some(&sid),
        Some(INIT),
        &[("accept", "text/html")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE);

    // DNS rebinding: foreign Origin or Host is refused; loopback origins are fine.
    let r = send(
        reqwest::Method::POST,
        url,
        Some(&sid),
        Some(r#"{"jsonrpc":"2.0","id":12,"method":"ping"}"#),
        &[("origin", "http://evil.example")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        reqwest::Method::POST,
        url,
        Some(&sid),
        Some(r#"{"jsonrpc":"2.0","id":12,"method":"ping"}"#),
        &[("host", "evil.example:80")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(
        reqwest::Method::POST,
        url,
        Some(&sid),
        Some(r#"{"jsonrpc":"2.0","id":12,"method":"ping"}"#),
        &[("origin", "http://localhost:6274")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    still_serving(url, &sid).await;
}

#[tokio::test]
async fn progress_streams_as_sse_and_list_changes_reach_the_get_stream() {
    use futures_util::StreamExt;
    let gw = gateway();
    let url = &gw.url;
    let sid = initialize(url).await;

    // A call with a progress token answers as an event stream: progress, then the result.
    let r = post(url, Some(&sid), r#"{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"conf__test_tool_with_progress","arguments":{},"_meta":{"progressToken":"tok-1"}}}"#).await;
    assert_eq!(r.headers["content-type"], "text/event-stream", "{}", r.body);
    let events: Vec<Value> = r
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| !d.trim().is_empty()) // the priming event
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let progress: Vec<&Value> = events
        .iter()
        .filter(|e| e["method"] == "notifications/progress")
        .collect();
    assert!(progress.len() >= 2, "{}", r.body);
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "tok-1"),
        "client token not restored: {}",
        r.body
    );
    assert_eq!(events.last().unwrap()["id"], 20);

    // The standalone GET stream receives list_changed when an upstream's tools change.
    let client = reqwest::Client::new();
    let get = client
        .get(url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    let mut stream = get.bytes_stream();
    let r = post(url, Some(&sid), r#"{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"conf__test_trigger_tool_change","arguments":{}}}"#).await;
    assert!(r.body.contains("\"result\""), "{}", r.body);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !seen.contains("notifications/tools/list_changed") {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            other => panic!("no list_changed on the GET stream ({other:?}); got: {seen}"),
        }
    }
    // A GET without the event-stream Accept is refused.
    let r = send(
        reqwest::Method::GET,
        url,
        Some(&sid),
        None,
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE);
    still_serving(url, &sid).await;
}

/// An HTTP upstream that closes its event stream mid-call (SSE polling) is resumed with
/// `Last-Event-ID`; the client just gets the result.
#[tokio::test]
async fn upstream_event_streams_are_resumed_after_the_server_closes_them() {
    let (_fixture, fixture_url) = fixture_http();
    let gw = Gateway::start(&format!("servers:\n  conf:\n    url: {fixture_url}\n"));
    let sid = initialize(&gw.url).await;
    let r = post(&gw.url, Some(&sid), r#"{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"name":"conf__test_reconnection","arguments":{}}}"#).await;
    assert!(
        r.body.contains("result delivered after reconnect"),
        "{}\n{}",
        r.body,
        gw.logs()
    );
}

/// A client that loses an SSE answer mid-call reopens it with `Last-Event-ID` and gets the
/// events it missed and the result.
#[tokio::test]
async fn client_streams_resume_with_last_event_id() {
    use futures_util::StreamExt;
    let gw = gateway();
    let sid = initialize(&gw.url).await;
    let client = reqwest::Client::new();
    let resp = client
        .post(&gw.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &sid)
        .body(r#"{"jsonrpc":"2.0","id":40,"method":"tools/call","params":{"name":"conf__test_tool_with_progress","arguments":{},"_meta":{"progressToken":"p"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    // Read until the first real event (after the priming event), then drop the connection.
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    let last_id = loop {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        let ids: Vec<&str> = seen
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .collect();
        if seen.contains("notifications/progress") && ids.len() >= 2 {
            break ids[1].to_owned();
        }
    };
    assert!(
        seen.starts_with("id: ") && seen.contains("retry: "),
        "no priming event: {seen}"
    );
    drop(body);
    let resumed = client
        .get(&gw.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .header("last-event-id", &last_id)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !resumed.contains(&format!("id: {last_id}\n")),
        "replayed the event already seen: {resumed}"
    );
    assert!(
        resumed.contains("\"id\":40") && resumed.contains("\"result\""),
        "no result after resuming: {resumed}"
    );
}
