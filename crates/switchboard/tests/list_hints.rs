//! 2026-07-28 cache hints on merged lists: a modern client's `tools/list` (and the other lists)
//! carries the most conservative `ttlMs`/`cacheScope` of the upstreams behind it, private
//! whenever the gateway authenticates. The upstreams are the Python SDK server
//! (`tests/harness/servers/py_hints.py`, pinned to 2026-07-28) setting hints with the SDK's own
//! `cache_hints`, and the Python SDK session-era server, which gives none.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;

fn hinted(name: &str, ttl_ms: u64, scope: &str) -> String {
    format!(
        "  {name}:\n    command: {:?}\n    args: [{:?}, \"{ttl_ms}\", \"{scope}\"]\n    protocol: modern\n",
        python().display().to_string(),
        harness().join("servers/py_hints.py").display().to_string(),
    )
}

/// `ttlMs` and `cacheScope` of a modern client's `method` result, after checking it lists
/// `want` items of `key`.
async fn hints_of(
    url: &str,
    auth: &[(&str, &str)],
    method: &str,
    key: &str,
    want: usize,
) -> (u64, String) {
    let a = modern(url, auth, method, None, serde_json::json!({})).await;
    let r = &a.body["result"];
    assert_eq!(
        r[key].as_array().map(Vec::len),
        Some(want),
        "{method}: {}",
        a.body
    );
    (
        r["ttlMs"]
            .as_u64()
            .unwrap_or_else(|| panic!("{method}: no integer ttlMs: {}", a.body)),
        r["cacheScope"]
            .as_str()
            .unwrap_or_else(|| panic!("{method}: no cacheScope: {}", a.body))
            .to_owned(),
    )
}

/// Within `ttl` less what the test itself may have taken (the gateway ages its copy).
fn about(got: u64, ttl: u64) -> bool {
    got <= ttl && got + 20_000 > ttl
}

#[tokio::test]
async fn merged_lists_carry_the_most_conservative_upstream_hint() {
    let yaml = format!(
        "servers:\n{}{}",
        hinted("a", 600_000, "public"),
        hinted("b", 300_000, "public")
    );
    let gw = Gateway::start(&yaml);
    // Tools and prompts are prefixed per server; the two servers' resource URIs clash (the
    // first listed wins), but both servers still contribute to those lists' hints.
    for (method, key, items) in [
        ("tools/list", "tools", 2),
        ("prompts/list", "prompts", 2),
        ("resources/list", "resources", 1),
        ("resources/templates/list", "resourceTemplates", 1),
    ] {
        let (ttl, scope) = hints_of(&gw.url, &[], method, key, items).await;
        assert!(
            about(ttl, 300_000),
            "{method}: ttlMs {ttl}, want the smaller upstream's 300000 (less age)"
        );
        assert_eq!(scope, "public", "{method}");
    }
    // Session-era clients get the lists as before, without hints.
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let init = reqwest::Client::new()
        .post(&gw.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let list = reqwest::Client::new()
        .post(&gw.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("a__hello") && !list.contains("ttlMs") && !list.contains("cacheScope"),
        "{list}"
    );
}

#[tokio::test]
async fn a_private_upstream_or_a_session_era_one_narrows_the_hint() {
    let yaml = format!(
        "servers:\n{}{}",
        hinted("a", 600_000, "public"),
        hinted("b", 300_000, "private")
    );
    let gw = Gateway::start(&yaml);
    let (ttl, scope) = hints_of(&gw.url, &[], "tools/list", "tools", 2).await;
    assert!(about(ttl, 300_000), "ttlMs {ttl}");
    assert_eq!(scope, "private");
    drop(gw);

    // The Python SDK's session-era server gives no hint: its part is immediately stale.
    let yaml = format!(
        "servers:\n{}{}    protocol: legacy\n",
        hinted("a", 600_000, "public"),
        stdio_entry("py", &python(), &[&harness().join("servers/py_server.py")])
    );
    let gw = Gateway::start(&yaml);
    let a = modern(&gw.url, &[], "tools/list", None, serde_json::json!({})).await;
    let r = &a.body["result"];
    let names = r["tools"].to_string();
    assert!(
        names.contains("a__hello") && names.contains("py__add"),
        "{}",
        a.body
    );
    assert_eq!(r["ttlMs"], 0, "{}", a.body);
    assert_eq!(r["cacheScope"], "public", "{}", a.body);
}

#[tokio::test]
async fn lists_are_private_when_the_gateway_authenticates() {
    let dir = scratch_dir("hints");
    let yaml = format!(
        "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  admin: {{allow: [\"*\"]}}\n  viewer: {{allow: [\"a__*\"]}}\nservers:\n{}{}",
        dir.join("keys.json").display(),
        hinted("a", 600_000, "public"),
        hinted("b", 300_000, "public")
    );
    let gw = Gateway::start(&yaml);
    let key = |name: &str, role: &str| {
        let out = Command::new(switchboard())
            .args(["keys", "create", "--name", name, "--role", role, "--config"])
            .arg(&gw.config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (admin, viewer) = (key("admin", "admin"), key("viewer", "viewer"));
    // Unfiltered, but only for authenticated callers: private.
    let (ttl, scope) = hints_of(&gw.url, &[("x-api-key", &admin)], "tools/list", "tools", 2).await;
    assert!(about(ttl, 300_000), "ttlMs {ttl}");
    assert_eq!(scope, "private");
    // Filtered by role: private too (another role sees another list).
    let (ttl, scope) = hints_of(&gw.url, &[("x-api-key", &viewer)], "tools/list", "tools", 1).await;
    assert!(about(ttl, 300_000), "ttlMs {ttl}");
    assert_eq!(scope, "private");
}
