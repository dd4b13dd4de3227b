//! What an identity may do and how often: roles, sessions, rate limits (local, per tool, and
//! shared through Redis), argument validation, DNS rebinding, continuation state.

use serde_json::{Value, json};

use crate::common::*;
use crate::helpers::*;

#[tokio::test]
async fn viewers_see_and_reach_only_what_their_role_allows() {
    let s = setup("rbac");
    let url = &s.gw.url;
    let viewer = keys_cli(&s.gw.config, &["create", "--name", "v", "--role", "viewer"]);
    let admin = keys_cli(&s.gw.config, &["create", "--name", "a", "--role", "admin"]);
    let v = [("x-api-key", viewer.as_str())];
    let all = tools(url, &[("x-api-key", &admin)]).await;
    assert!(
        all.contains(&"company__update_project_status".to_owned()),
        "{all:?}"
    );
    let seen = tools(url, &v).await;
    assert_eq!(seen, vec![EMPLOYEE.to_owned()], "viewer's list");
    // Calling a hidden tool directly, or a denied one, looks exactly like calling nothing.
    let nothing = tool_call(url, &v, "company__no_such_tool", json!({})).await;
    for (tool, args) in [
        (
            "company__update_project_status",
            json!({"project_id": "P001", "status": "done"}),
        ),
        ("company__search_documents", json!({"query": "x"})),
    ] {
        let a = tool_call(url, &v, tool, args).await;
        assert_eq!(a.status, nothing.status);
        assert_eq!(
            a.body["error"]["code"], nothing.body["error"]["code"],
            "{tool}: {}",
            a.body
        );
        assert_eq!(
            a.body["error"]["message"]
                .as_str()
                .unwrap()
                .replace(tool, "X"),
            nothing.body["error"]["message"]
                .as_str()
                .unwrap()
                .replace("company__no_such_tool", "X"),
        );
    }
    assert_eq!(
        tool_call(url, &v, EMPLOYEE, json!({"employee_id": "E004"}))
            .await
            .status,
        200
    );
    // A session opened by one identity is not usable by another.
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let client = reqwest::Client::new();
    let post = |key: &str, body: Value, sid: Option<&str>| {
        let mut r = client
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("x-api-key", key);
        if let Some(s) = sid {
            r = r
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-11-25");
        }
        r.body(body.to_string()).send()
    };
    let r = post(&admin, init, None).await.unwrap();
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
    assert_eq!(
        post(&viewer, list.clone(), Some(&sid))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(post(&admin, list, Some(&sid)).await.unwrap().status(), 200);
}

#[tokio::test]
async fn rate_limits_admit_exactly_the_budget_under_concurrency() {
    let s = setup("rate");
    let url = s.gw.url.clone();
    let key = keys_cli(
        &s.gw.config,
        &["create", "--name", "m", "--role", "metered"],
    );
    let calls = (0..30).map(|i| {
        let (url, key) = (url.clone(), key.clone());
        tokio::spawn(async move {
            tool_call(
                &url,
                &[("x-api-key", &key)],
                EMPLOYEE,
                json!({"employee_id": format!("E00{}", i % 5 + 1)}),
            )
            .await
        })
    });
    let answers = futures_util::future::join_all(calls).await;
    let mut ok = 0;
    let mut limited = 0;
    for a in answers {
        let a = a.unwrap();
        match a.status {
            200 => ok += 1,
            429 => {
                limited += 1;
                let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(retry >= 1, "Retry-After {retry}");
                assert_eq!(a.body["error"]["code"], -32007, "{}", a.body);
            }
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    assert_eq!((ok, limited), (10, 20), "10/hour admits exactly 10");
}

#[tokio::test]
async fn arguments_are_validated_before_any_upstream_sees_them() {
    let gw = Gateway::start(&format!(
        "servers:\n{}",
        stdio_entry("company", &workspace_bin("company-api"), &[])
    ));
    let url = &gw.url;
    for (args, path) in [
        (json!({"employee_id": 5}), "/employee_id"),
        (json!({}), "/"),
        (json!({"employee_id": ["E001"]}), "/employee_id"),
    ] {
        let a = tool_call(url, &[], EMPLOYEE, args.clone()).await;
        assert_eq!(a.body["error"]["code"], -32602, "{args}: {}", a.body);
        let msg = a.body["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("Invalid arguments for tool company__get_employee_info"),
            "{msg}"
        );
        assert_eq!(
            a.body["error"]["data"]["errors"][0]["path"], path,
            "{}",
            a.body
        );
    }
    let a = tool_call(url, &[], EMPLOYEE, json!({"employee_id": "E001"})).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// Two gateway processes on one Redis share one budget per identity: of 30 concurrent calls
/// spread over both, exactly the role's 10 are admitted.
#[tokio::test]
async fn a_redis_budget_is_shared_across_gateway_processes() {
    let dir = scratch_dir("redis");
    // A fresh key prefix, so earlier runs on the same Redis do not count.
    let prefix = format!("sbtest:{}:{}:", std::process::id(), now());
    let yaml = format!(
        "auth:\n  api_keys: {{file: \"{keys}\"}}\nroles:\n  metered: {{allow: [\"*\"], rate_limit: 10/hour}}\nrate_limits: {{store: redis, redis_url: \"redis://127.0.0.1:6379\", key_prefix: \"{prefix}\"}}\nservers:\n{company}",
        keys = dir.join("keys.json").display(),
        company = stdio_entry("company", &workspace_bin("company-api"), &[]),
    );
    let a = Gateway::start(&yaml);
    let b = Gateway::start(&yaml);
    let key = keys_cli(
        &a.config,
        &["create", "--name", "shared", "--role", "metered"],
    );
    let calls = (0..30).map(|i| {
        let url = if i % 2 == 0 {
            a.url.clone()
        } else {
            b.url.clone()
        };
        let key = key.clone();
        tokio::spawn(async move {
            tool_call(
                &url,
                &[("x-api-key", &key)],
                EMPLOYEE,
                json!({"employee_id": "E001"}),
            )
            .await
        })
    });
    let mut ok = [0, 0];
    let mut limited = 0;
    for (i, a) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        let a = a.unwrap();
        match a.status {
            200 => ok[i % 2] += 1,
            429 => {
                limited += 1;
                assert!(a.headers.contains_key("retry-after"));
            }
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    // Each gateway alone would admit 10 of its 15 (20 in all) with a per-process store.
    assert_eq!(ok[0] + ok[1], 10, "admitted per gateway: {ok:?}");
    assert_eq!(limited, 20);
}

/// The README's secured walk-through with the official Inspector CLI: without the key the
/// gateway refuses, with `--header "X-API-Key: …"` the role's tools are listed.
#[test]
fn inspector_cli_with_an_api_key() {
    let dir = scratch_dir("insp");
    let gw = Gateway::start(&format!(
        "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  viewer: {{allow: [\"get_*\"]}}\nservers:\n{}",
        dir.join("keys.json").display(),
        stdio_entry("company", &workspace_bin("company-api"), &[])
    ));
    let key = keys_cli(&gw.config, &["create", "--name", "me", "--role", "viewer"]);
    let inspector = |extra: &[&str]| {
        inspector()
            .args([
                "--cli",
                &gw.url,
                "--transport",
                "http",
                "--method",
                "tools/list",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = inspector(&[]);
    assert!(
        !refused.status.success(),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    let header = format!("X-API-Key: {key}");
    let ok = inspector(&["--header", &header]);
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        out.contains(EMPLOYEE) && !out.contains("update_project_status"),
        "{out}"
    );
}

/// DNS rebinding: a page on another origin (or a Host the gateway does not serve) is refused
/// before authentication is even looked at.
#[tokio::test]
async fn foreign_origins_and_hosts_are_refused() {
    let s = setup("rebind");
    let key = keys_cli(&s.gw.config, &["create", "--name", "o", "--role", "admin"]);
    for (name, value) in [("origin", "http://evil.example"), ("host", "evil.example")] {
        let a = tool_call(
            &s.gw.url,
            &[("x-api-key", key.as_str()), (name, value)],
            EMPLOYEE,
            json!({"employee_id": "E001"}),
        )
        .await;
        assert_eq!(a.status, 403, "{name}: {}", a.body);
    }
    let a = tool_call(
        &s.gw.url,
        &[
            ("x-api-key", key.as_str()),
            ("origin", "http://localhost:3000"),
        ],
        EMPLOYEE,
        json!({"employee_id": "E001"}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// A per-tool limit spends only on the tools it names (by the server's own name here).
#[tokio::test]
async fn per_tool_limits_apply_to_the_tools_they_name() {
    let dir = scratch_dir("toollim");
    let gw = Gateway::start(&format!(
        "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  dev: {{allow: [\"*\"], tool_limits: {{\"get_*\": 3/hour}}}}\nservers:\n{}",
        dir.join("keys.json").display(),
        stdio_entry("company", &workspace_bin("company-api"), &[])
    ));
    let key = keys_cli(&gw.config, &["create", "--name", "t", "--role", "dev"]);
    let k = [("x-api-key", key.as_str())];
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            tool_call(&gw.url, &k, EMPLOYEE, json!({"employee_id": "E001"}))
                .await
                .status,
        );
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    for _ in 0..5 {
        let a = tool_call(
            &gw.url,
            &k,
            "company__search_documents",
            json!({"query": "portal"}),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    let a = tool_call(&gw.url, &k, EMPLOYEE, json!({"employee_id": "E001"})).await;
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(EMPLOYEE),
        "{}",
        a.body
    );
}

/// An `input_required` state is bound to the caller: another identity cannot continue it.
#[tokio::test]
async fn request_state_is_bound_to_its_caller() {
    let dir = scratch_dir("mrtr");
    let gw = Gateway::start(&format!(
        "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  admin: {{allow: [\"*\"]}}\nservers:\n{}    protocol: modern\n",
        dir.join("keys.json").display(),
        stdio_entry("fx", &workspace_bin("conformance-server"), &[])
    ));
    let alice = keys_cli(
        &gw.config,
        &["create", "--name", "alice", "--role", "admin"],
    );
    let mallory = keys_cli(
        &gw.config,
        &["create", "--name", "mallory", "--role", "admin"],
    );
    let tool = "fx__test_input_required_result_elicitation";
    let ask = |key: String, extra: Value| {
        let url = gw.url.clone();
        async move {
            let mut params = json!({"name": tool, "arguments": {}, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}});
            if let Value::Object(m) = extra {
                params.as_object_mut().unwrap().extend(m);
            }
            let r = reqwest::Client::new()
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/call")
                .header("mcp-name", tool)
                .header("x-api-key", key)
                .body(
                    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params})
                        .to_string(),
                )
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    let first = ask(alice.clone(), json!({})).await;
    assert_eq!(first["result"]["resultType"], "input_required", "{first}");
    let state = first["result"]["requestState"].as_str().unwrap().to_owned();
    let answer = json!({"requestState": state, "inputResponses": {"user_name": {"action": "accept", "content": {"name": "Al"}}}});
    let stolen = ask(mallory, answer.clone()).await;
    assert_eq!(
        stolen["error"]["message"], "Invalid or expired requestState",
        "{stolen}"
    );
    let done = ask(alice, answer).await;
    assert_eq!(done["result"]["content"][0]["text"], "Hello, Al!", "{done}");
}
