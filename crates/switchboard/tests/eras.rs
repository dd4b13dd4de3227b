//! The bridging matrix: {session-era, 2026-07-28} client × {session-era, 2026-07-28} upstream ×
//! {stdio, Streamable HTTP} upstream transport, each client over both client transports. Every
//! cell lists tools, makes a plain call, a call with progress, and one that needs the client's
//! input (elicitation and sampling): relayed as-is when the eras match, and bridged when they
//! differ (server→client requests ↔ `input_required` rounds).
//!
//! Clients: the Python SDK 2.x (`mode=legacy` speaks 2025-11-25, `mode=auto` negotiates
//! 2026-07-28). Upstreams: the Python SDK server pinned to the session era (`protocol: legacy`)
//! and the rmcp conformance fixture pinned to 2026-07-28 (`protocol: modern`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Upstream {
    Legacy,
    Modern,
}

/// Run the Python client in both eras over both client transports against a gateway whose only
/// server is `up`, and check each call.
fn matrix(yaml: &str, upstream: Upstream) {
    let gw = Gateway::start(yaml);
    let era = match upstream {
        Upstream::Legacy => "protocol=2025-11-25",
        Upstream::Modern => "protocol=2026-07-28",
    };
    let ready = gw
        .logs()
        .lines()
        .find(|l| l.contains("upstream ready"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        ready.contains(era) && !ready.contains(" + "),
        "upstream should speak only {era}: {ready}"
    );
    let calls: &[(&str, &str)] = match upstream {
        Upstream::Legacy => &[
            ("up__add", r#"{"a":2,"b":40}"#),
            ("up__count_with_progress", r#"{"steps":3}"#),
            ("up__ask_name", "{}"),
            ("up__ask_model", r#"{"question":"q"}"#),
        ],
        Upstream::Modern => &[
            ("up__test_simple_text", "{}"),
            ("up__test_tool_with_progress", "{}"),
            ("up__test_input_required_result_elicitation", "{}"),
            ("up__test_input_required_result_sampling", "{}"),
        ],
    };
    let config = gw.config.to_str().unwrap().to_owned();
    let sb = switchboard();
    let stdio = [
        "--stdio",
        sb.to_str().unwrap(),
        "stdio",
        "--config",
        &config,
        "--",
    ];
    for (transport, target) in [
        ("http", vec!["--url", gw.url.as_str()]),
        ("stdio", stdio.to_vec()),
    ] {
        for mode in ["legacy", "auto"] {
            let cell = format!("{mode} client over {transport} → {upstream:?} upstream");
            let mut args = target.clone();
            args.extend(["--mode", mode]);
            let out = py_client(&args, calls);
            let version = if mode == "auto" {
                "2026-07-28"
            } else {
                "2025-11-25"
            };
            assert_eq!(out["protocol_version"], version, "{cell}: {out}");
            let tools = out["tools"].as_array().unwrap();
            assert!(
                tools.iter().any(|t| t == calls[0].0),
                "{cell}: tools/list {tools:?}"
            );
            let text = |name: &str| {
                let c = call(&out, name);
                assert!(c.get("error").is_none(), "{cell}: {name} failed: {c}");
                c["text"].as_str().unwrap_or_default().to_owned()
            };
            let progress = |name: &str| call(&out, name)["progress"].as_array().unwrap().len();
            match upstream {
                Upstream::Legacy => {
                    assert_eq!(text("up__add"), "42", "{cell}");
                    assert_eq!(text("up__count_with_progress"), "counted 3", "{cell}");
                    assert_eq!(progress("up__count_with_progress"), 3, "{cell}: {out}");
                    assert_eq!(text("up__ask_name"), "hello Ada", "{cell}");
                    assert_eq!(text("up__ask_model"), "model said: 42", "{cell}");
                }
                Upstream::Modern => {
                    assert!(
                        text("up__test_simple_text").contains("simple text"),
                        "{cell}"
                    );
                    text("up__test_tool_with_progress");
                    assert_eq!(progress("up__test_tool_with_progress"), 3, "{cell}: {out}");
                    assert_eq!(
                        text("up__test_input_required_result_elicitation"),
                        "Hello, Ada!",
                        "{cell}"
                    );
                    assert_eq!(
                        text("up__test_input_required_result_sampling"),
                        "The LLM answered: 42",
                        "{cell}"
                    );
                }
            }
        }
    }
}

#[test]
fn legacy_stdio_upstream_serves_both_eras() {
    let yaml = format!(
        "servers:\n{}    protocol: legacy\n",
        stdio_entry("up", &python(), &[&harness().join("servers/py_server.py")])
    );
    matrix(&yaml, Upstream::Legacy);
}

#[test]
fn legacy_http_upstream_serves_both_eras() {
    let (_py, url) = py_server_http();
    let yaml = format!("servers:\n  up:\n    url: {url}\n    protocol: legacy\n");
    matrix(&yaml, Upstream::Legacy);
}

#[test]
fn modern_stdio_upstream_serves_both_eras() {
    let yaml = format!(
        "servers:\n{}    protocol: modern\n",
        stdio_entry("up", &workspace_bin("conformance-server"), &[])
    );
    matrix(&yaml, Upstream::Modern);
}

#[test]
fn modern_http_upstream_serves_both_eras() {
    let (_fixture, url) = fixture_http();
    let yaml = format!("servers:\n  up:\n    url: {url}\n    protocol: modern\n");
    matrix(&yaml, Upstream::Modern);
}

/// A raw 2026-07-28 `tools/call` with `extra` params (`inputResponses`, `requestState`), as JSON.
async fn modern_call(url: &str, name: &str, caps: &str, extra: &str) -> serde_json::Value {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"{name}","arguments":{{}}{extra},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{caps}}}}}}}"#
    );
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", name)
        .body(body)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    // A JSON body, or an event stream whose last message is the response.
    let json = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap_or(&text);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn state_of(v: &serde_json::Value) -> String {
    assert_eq!(v["result"]["resultType"], "input_required", "{v}");
    v["result"]["requestState"].as_str().unwrap().to_owned()
}

fn refused(v: &serde_json::Value) {
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert_eq!(
        v["error"]["message"], "Invalid or expired requestState",
        "{v}"
    );
}

/// `requestState` is signed and bound to its request; a parked call is answered once; bad
/// answers are refused without losing the call; a missing answer is asked again.
#[tokio::test]
async fn input_required_states_are_checked() {
    let yaml = format!(
        "http: {{response_mode: json}}\nservers:\n{}    protocol: legacy\n{}    protocol: modern\n",
        stdio_entry("py", &python(), &[&harness().join("servers/py_server.py")]),
        stdio_entry("fx", &workspace_bin("conformance-server"), &[]),
    );
    let gw = Gateway::start(&yaml);
    let url = gw.url.as_str();
    let caps = r#"{"elicitation":{}}"#;

    // Bridge A: the session-era upstream's elicitation request becomes an input request.
    let r1 = modern_call(url, "py__ask_name", caps, "").await;
    let s1 = state_of(&r1);
    let requests = r1["result"]["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1, "{r1}");
    let (key, asked) = requests.iter().next().unwrap();
    assert_eq!(asked["method"], "elicitation/create", "{r1}");
    let accept = format!(
        r#","inputResponses":{{"{key}":{{"action":"accept","content":{{"name":"Ada"}}}}}}"#
    );

    refused(
        &modern_call(
            url,
            "py__ask_name",
            caps,
            &format!(r#"{accept},"requestState":"{s1}-TAMPERED""#),
        )
        .await,
    );
    // A state is bound to its tool and arguments.
    let other = modern_call(
        url,
        "py__show_roots",
        caps,
        &format!(r#",\"requestState\":\"{s1}\""#).replace('\\', ""),
    )
    .await;
    refused(&other);
    // Malformed answers are refused and the call stays parked.
    let bad = modern_call(
        url,
        "py__ask_name",
        caps,
        &format!(r#","inputResponses":{{"{key}":12345}},"requestState":"{s1}""#),
    )
    .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let null = modern_call(
        url,
        "py__ask_name",
        caps,
        &format!(r#","inputResponses":null,"requestState":"{s1}""#),
    )
    .await;
    assert_eq!(null["error"]["code"], -32602, "{null}");
    // No answer: asked again, with a new state; the old one is spent.
    let r2 = modern_call(
        url,
        "py__ask_name",
        caps,
        &format!(r#","inputResponses":{{}},"requestState":"{s1}""#),
    )
    .await;
    let s2 = state_of(&r2);
    assert_ne!(s1, s2);
    assert!(r2["result"]["inputRequests"].get(key).is_some(), "{r2}");
    refused(
        &modern_call(
            url,
            "py__ask_name",
            caps,
            &format!(r#"{accept},"requestState":"{s1}""#),
        )
        .await,
    );
    let done = modern_call(
        url,
        "py__ask_name",
        caps,
        &format!(r#"{accept},"requestState":"{s2}""#),
    )
    .await;
    assert_eq!(done["result"]["resultType"], "complete", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "hello Ada", "{done}");
    // An answer for a request that no longer waits.
    refused(
        &modern_call(
            url,
            "py__ask_name",
            caps,
            &format!(r#"{accept},"requestState":"{s2}""#),
        )
        .await,
    );

    // Relay: a modern upstream's state is wrapped, and bound to its server and tool.
    let f1 = modern_call(url, "fx__test_input_required_result_elicitation", caps, "").await;
    let sf = state_of(&f1);
    refused(
        &modern_call(
            url,
            "py__ask_name",
            caps,
            &format!(r#"{accept},"requestState":"{sf}""#),
        )
        .await,
    );
    let answer = r#","inputResponses":{"user_name":{"action":"accept","content":{"name":"Bo"}}}"#;
    let fdone = modern_call(
        url,
        "fx__test_input_required_result_elicitation",
        caps,
        &format!(r#"{answer},"requestState":"{sf}""#),
    )
    .await;
    assert_eq!(
        fdone["result"]["content"][0]["text"], "Hello, Bo!",
        "{fdone}"
    );

    // A client that cannot be asked is never sent an input request it did not declare.
    // (The Python server turns the refused elicitation into an error for the call.)
    let none = modern_call(url, "py__ask_name", "{}", "").await;
    assert_ne!(none["result"]["resultType"], "input_required", "{none}");
    assert!(
        none.to_string()
            .contains("did not declare the `elicitation` capability"),
        "{none}"
    );
}

/// A 2026-07-28-only upstream has no session to announce list changes on: the gateway keeps a
/// `subscriptions/listen` open to it, so its changes still reach clients (here, a modern
/// client's own listen stream). The change is made by another client of the upstream, directly,
/// so the gateway's listen is the only way it can learn of it.
#[tokio::test]
async fn modern_only_upstreams_report_list_changes() {
    use futures_util::StreamExt;
    let (_fixture, fixture_url) = fixture_http();
    let yaml = format!("servers:\n  web:\n    url: {fixture_url}\n    protocol: modern\n");
    let gw = Gateway::start(&yaml);
    let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":61,"method":"subscriptions/listen","params":{{"notifications":{{"toolsListChanged":true}},{meta}}}}}"#
    );
    let listen = reqwest::Client::new()
        .post(&gw.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "subscriptions/listen")
        .body(body)
        .send()
        .await
        .unwrap();
    let mut stream = listen.bytes_stream();
    let mut seen = String::new();
    let mut next = async |seen: &mut String, what: &str| {
        while !seen.contains(what) {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} on the listen stream: {seen}"))
                .unwrap()
                .unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    next(&mut seen, "acknowledged").await;
    // Give the gateway's own listen to the upstream a moment to be acknowledged.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = modern_call(&fixture_url, "test_trigger_tool_change", "{}", "").await;
    assert!(
        r.to_string().contains("to 1 subscription stream"),
        "the gateway's listen should be open upstream: {r}"
    );
    next(&mut seen, "notifications/tools/list_changed").await;
}
