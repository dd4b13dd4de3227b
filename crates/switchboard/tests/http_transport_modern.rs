//! The Streamable HTTP endpoint at the wire level for stateless 2026-07-28 requests: the
//! header rung and validation ladder, statuses by error, and `subscriptions/listen` streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::raw_http::*;
use reqwest::StatusCode;

/// Stateless 2026-07-28 requests on the same endpoint: discovery, the validation ladder with
/// the spec's codes and statuses, and results carrying `resultType` and cache hints.
#[tokio::test]
async fn modern_stateless_requests_and_their_validation() {
    let gw = gateway();
    let url = &gw.url;
    let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    let modern = |method: &str, params: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":7,"method":"{method}","params":{params}}}"#)
    };
    let hdrs = |method: &'static str| {
        vec![
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", method),
        ]
    };

    let r = send(
        reqwest::Method::POST,
        url,
        None,
        Some(&modern("server/discover", &format!("{{{meta}}}"))),
        &hdrs("server/discover"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let d = r.json();
    assert_eq!(d["result"]["resultType"], "complete");
    assert_eq!(d["result"]["supportedVersions"][0], "2026-07-28");
    assert!(d["result"]["capabilities"]["tools"].is_object());
    assert!(
        r.headers.get("mcp-session-id").is_none(),
        "a stateless request must not mint a session"
    );

    let r = send(
        reqwest::Method::POST,
        url,
        None,
        Some(&modern("tools/list", &format!("{{{meta}}}"))),
        &hdrs("tools/list"),
    )
    .await;
    let v = r.json();
    assert_eq!(v["result"]["resultType"], "complete", "{}", r.body);
    assert_eq!(v["result"]["ttlMs"], 0);
    assert!(
        v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "company__get_employee_info")
    );

    // A call reaches the session-era upstream without the modern envelope, and comes back modern.
    let call = modern(
        "tools/call",
        &format!(
            r#"{{"name":"company__get_employee_info","arguments":{{"employee_id":"E002"}},{meta}}}"#
        ),
    );
    let mut h = hdrs("tools/call");
    h.push(("mcp-name", "company__get_employee_info"));
    let r = send(reqwest::Method::POST, url, None, Some(&call), &h).await;
    let v = r.json();
    assert_eq!(v["result"]["resultType"], "complete", "{}", r.body);
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("E002")
    );

    // The ladder, rung by rung.
    let r = send(
        reqwest::Method::POST,
        url,
        None,
        Some(&modern("tools/list", "{}")),
        &hdrs("tools/list"),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::BAD_REQUEST, -32602),
        "{}",
        r.body
    );
    assert_eq!(r.json()["id"], 7, "the id is echoed");
    let r = send(
        reqwest::Method::POST,
        url,
        None,
        Some(&modern("tools/list", &format!("{{{meta}}}"))),
        &[("mcp-protocol-version", "2026-07-28")],
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::BAD_REQUEST, -32020),
        "missing Mcp-Method: {}",
        r.body
    );
    let r = send(
        reqwest::Method::POST,
        url,
        None,
        Some(&call),
        &hdrs("tools/call"),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::BAD_REQUEST, -32020),
        "missing Mcp-Name: {}",
        r.body
    );
    let v999 = meta.replace("2026-07-28", "v999");
    let r = send(
        reqwest::Method::POST,
        url,
        None,
        Some(&modern("tools/list", &format!("{{{v999}}}"))),
        &hdrs("tools/list"),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::BAD_REQUEST, -32020),
        "header vs _meta: {}",
        r.body
    );
    let r = send(
        reqwest::Method::POST,
        url,
        None,
        Some(&modern("tools/list", &format!("{{{v999}}}"))),
        &[
            ("mcp-protocol-version", "v999"),
            ("mcp-method", "tools/list"),
        ],
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::BAD_REQUEST, -32022),
        "{}",
        r.body
    );
    assert_eq!(r.json()["error"]["data"]["requested"], "v999");
    let r = send(
        reqwest::Method::POST,
        url,
        None,
        Some(&modern("ping", &format!("{{{meta}}}"))),
        &hdrs("ping"),
    )
    .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::NOT_FOUND, -32601),
        "{}",
        r.body
    );
    // Not found is -32602 with the URI for modern clients.
    let read = modern(
        "resources/read",
        &format!(r#"{{"uri":"nowhere://x",{meta}}}"#),
    );
    let mut h = hdrs("resources/read");
    h.push(("mcp-name", "nowhere://x"));
    let r = send(reqwest::Method::POST, url, None, Some(&read), &h).await;
    assert_eq!(r.error_code(), -32602, "{}", r.body);
    assert_eq!(r.json()["error"]["data"]["uri"], "nowhere://x");
    // Stateless clients only POST.
    let r = send(
        reqwest::Method::GET,
        url,
        None,
        None,
        &[("accept", "text/event-stream")],
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "POST");
}

/// `subscriptions/listen`: the acknowledgement comes first, list changes are tagged with the
/// subscription id, and a filter without tools gets no tool changes.
#[tokio::test]
async fn modern_listen_streams_get_tagged_filtered_changes() {
    use futures_util::StreamExt;
    let gw = gateway();
    let url = gw.url.clone();
    let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    let open = |id: u32, filter: &str| {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"subscriptions/listen","params":{{"notifications":{filter},{meta}}}}}"#
        );
        reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "subscriptions/listen")
            .body(body)
            .send()
    };
    let tools = open(51, r#"{"toolsListChanged":true}"#).await.unwrap();
    let prompts = open(52, r#"{"promptsListChanged":true}"#).await.unwrap();
    assert_eq!(tools.headers()["content-type"], "text/event-stream");
    let mut tools = tools.bytes_stream();
    let mut prompts = prompts.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("acknowledged") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), tools.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains(r#""io.modelcontextprotocol/subscriptionId":51"#),
        "{seen}"
    );
    // Trigger a tool-list change upstream through a modern call.
    let call = format!(
        r#"{{"jsonrpc":"2.0","id":53,"method":"tools/call","params":{{"name":"conf__test_trigger_tool_change","arguments":{{}},{meta}}}}}"#
    );
    let r = send(
        reqwest::Method::POST,
        &gw.url,
        None,
        Some(&call),
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "conf__test_trigger_tool_change"),
        ],
    )
    .await;
    assert!(r.body.contains("\"result\""), "{}", r.body);
    while !seen.contains("notifications/tools/list_changed") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), tools.next())
            .await
            .unwrap_or_else(|_| panic!("no tools/list_changed on the listen stream: {seen}"))
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let change = seen
        .lines()
        .find(|l| l.contains("tools/list_changed"))
        .unwrap();
    assert!(
        change.contains(r#""io.modelcontextprotocol/subscriptionId":51"#),
        "{change}"
    );
    // The prompts-only listener got its acknowledgement and nothing about tools.
    let mut other = String::new();
    while let Ok(Some(Ok(chunk))) =
        tokio::time::timeout(std::time::Duration::from_millis(700), prompts.next()).await
    {
        other.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        other.contains("acknowledged") && !other.contains("tools/list_changed"),
        "{other}"
    );
}
