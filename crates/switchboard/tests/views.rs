//! Views (`views:`): a named endpoint showing a slice of the catalogue, listed and called by a
//! real client (the Python SDK) on its own path; roles still apply inside it; `check` names a
//! pattern that matches nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_shows_and_serves_its_slice_with_roles_applied() {
    let dir = scratch_dir("views");
    let bin = workspace_bin("bench-upstream");
    let yaml = format!(
        "auth:
  api_keys: {{file: {keys:?}}}
  anonymous_role: open
roles:
  open: {{allow: ['*']}}
  reader: {{allow: ['a__echo', 'b__*']}}
servers:
{a}{b}views:
  support:
    path: /mcp/support
    tools: ['a__*', 'nosuch__*']
",
        keys = dir.join("keys.json").display().to_string(),
        a = stdio_entry("a", &bin, &[]),
        b = stdio_entry("b", &bin, &[]),
    );
    let gw = Gateway::start(&yaml);
    let view = gw.url.replace("/mcp", "/mcp/support");

    // The Python SDK on the view's path: `a`'s tools only, and a call outside the view is
    // answered as an unknown tool.
    let out = py_client(
        &["--url", &view],
        &[
            ("a__echo", r#"{"text": "in view"}"#),
            ("b__echo", r#"{"text": "outside"}"#),
        ],
    );
    let tools: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        !tools.is_empty() && tools.iter().all(|t| t.starts_with("a__")),
        "{tools:?}"
    );
    assert_eq!(call(&out, "a__echo")["text"], "in view");
    let outside = call(&out, "b__echo");
    assert!(
        outside["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Unknown tool: b__echo")
            || outside["text"]
                .as_str()
                .unwrap_or_default()
                .contains("Unknown tool"),
        "{outside}"
    );
    // The main endpoint still shows everything.
    let all = py_client(&["--url", &gw.url], &[]);
    assert!(
        all["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "b__echo"),
        "{all}"
    );

    // Roles apply inside the view: `reader` may use `a__echo` (and `b__*`, which the view
    // hides), not `a__pid`.
    let key = keys_cli(&gw.config, &["create", "--name", "r1", "--role", "reader"]);
    let auth = [("x-api-key", key.as_str())];
    let list = modern(&view, &auth, "tools/list", None, json!({})).await;
    let names: Vec<&str> = list.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a__echo"], "{:?}", list.body);
    let ok = tool_call(&view, &auth, "a__echo", json!({"text": "hi"})).await;
    assert_eq!(
        ok.body["result"]["content"][0]["text"], "hi",
        "{:?}",
        ok.body
    );
    for denied in ["a__pid", "b__echo"] {
        let r = tool_call(&view, &auth, denied, json!({})).await;
        assert_eq!(
            r.body["error"]["code"],
            json!(-32602),
            "{denied}: {:?}",
            r.body
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Unknown tool"),
            "{:?}",
            r.body
        );
    }

    // `check` names the pattern that matches nothing.
    let o = std::process::Command::new(switchboard())
        .args(["check", "--config"])
        .arg(&gw.config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("warn view support: the tool pattern `nosuch__*` matches no tool"),
        "{stdout}"
    );
    assert!(!stdout.contains("pattern `a__*`"), "{stdout}");
}
