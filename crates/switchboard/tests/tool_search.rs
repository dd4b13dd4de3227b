//! Tool search (`tool_search:`): the `search_tools` / `call_tool` meta-tools through the
//! gateway. Quality measured over GitHub's REST API imported as tools (1,222) with a query set
//! written from what users want done (tests/data/github_tool_queries.json); roles (denied tools
//! are never found, and `call_tool` answers them as unknown); `replace` mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Shares of queries whose expected tool is in the top 5 that this index must keep reaching:
/// guards against regressions, below what was measured (BENCHMARKS.md, "Tool search"). The
/// thesaurus was written looking at the first set's misses; the held-out set was written
/// separately, without the ranking, and says how the index does on words it was not tuned
/// for. The issue's target is 90 %.
const SETS: &[(&str, f64)] = &[
    ("github_tool_queries.json", 0.80),
    ("github_tool_queries_heldout.json", 0.60),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_quality_over_githubs_api_and_its_latency() {
    let spec = harness().join("node_modules/@octokit/openapi/generated/api.github.com.json");
    let gw = Gateway::start(&format!(
        "tool_search: {{mode: beside}}\nservers:\n  github:\n    openapi: {:?}\n    base_url: http://127.0.0.1:1\n",
        spec.display().to_string()
    ));
    for (file, floor) in SETS {
        let set: Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("crates/switchboard/tests/data").join(file))
                .unwrap(),
        )
        .unwrap();
        let queries = set["queries"].as_array().unwrap();
        let (mut hits, mut misses, mut took) = (0, Vec::new(), Duration::ZERO);
        for q in queries {
            let t = Instant::now();
            let a = tool_call(
                &gw.url,
                &[],
                "search_tools",
                json!({"query": q["q"], "limit": 5}),
            )
            .await;
            took += t.elapsed();
            let found: Vec<String> = a.body["result"]["structuredContent"]["tools"]
                .as_array()
                .unwrap_or_else(|| panic!("{:?}", a.body))
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_owned())
                .collect();
            assert!(found.len() <= 5);
            if q["expect"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| found.iter().any(|f| f == e.as_str().unwrap()))
            {
                hits += 1;
            } else {
                misses.push(format!("{} -> {found:?}", q["q"]));
            }
        }
        let share = hits as f64 / queries.len() as f64;
        eprintln!(
            "tool search ({file}): {hits}/{} in the top 5 ({:.0} %), {:.2} ms per search round trip\nmisses:\n{}",
            queries.len(),
            share * 100.0,
            took.as_secs_f64() * 1000.0 / queries.len() as f64,
            misses.join("\n")
        );
        assert!(
            share >= *floor,
            "{file}: {hits}/{} found; misses:\n{}",
            queries.len(),
            misses.join("\n")
        );
    }
    // Results carry what a client needs to call them.
    let a = tool_call(
        &gw.url,
        &[],
        "search_tools",
        json!({"query": "create an issue", "limit": 5}),
    )
    .await;
    let tools = a.body["result"]["structuredContent"]["tools"]
        .as_array()
        .unwrap();
    let issue = tools
        .iter()
        .find(|t| t["name"] == "github__issues_create")
        .unwrap_or_else(|| panic!("{tools:?}"));
    assert_eq!(
        issue["inputSchema"]["required"],
        json!(["owner", "repo", "title"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_tools_are_never_found_and_replace_mode_lists_only_the_meta_tools() {
    let dir = scratch_dir("tool-search");
    let bin = workspace_bin("bench-upstream");
    let yaml = format!(
        "auth:
  api_keys: {{file: {keys:?}}}
roles:
  narrow: {{allow: ['a__*', 'search_tools', 'call_tool']}}
tool_search: {{mode: replace, max_results: 5}}
servers:
{a}{b}",
        keys = dir.join("keys.json").display().to_string(),
        a = stdio_entry("a", &bin, &[]),
        b = stdio_entry("b", &bin, &[]),
    );
    let gw = Gateway::start(&yaml);
    let key = keys_cli(&gw.config, &["create", "--name", "n1", "--role", "narrow"]);
    let auth = [("x-api-key", key.as_str())];
    // `replace`: the list is the two meta-tools; `search_tools` says what is behind it.
    let list = modern(&gw.url, &auth, "tools/list", None, json!({})).await;
    let tools = list.body["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["search_tools", "call_tool"], "{:?}", list.body);
    let description = tools[0]["description"].as_str().unwrap();
    assert!(
        description.contains("among the 16 tools") && description.contains("a (8 tools"),
        "{description}"
    );

    // Found: only what the role allows.
    let a = tool_call(
        &gw.url,
        &auth,
        "search_tools",
        json!({"query": "returns its text"}),
    )
    .await;
    let found: Vec<&str> = a.body["result"]["structuredContent"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(found.first(), Some(&"a__echo"), "{:?}", a.body);
    assert!(found.iter().all(|n| n.starts_with("a__")), "{found:?}");
    // Called through call_tool, and directly.
    let a = tool_call(
        &gw.url,
        &auth,
        "call_tool",
        json!({"name": "a__echo", "arguments": {"text": "via search"}}),
    )
    .await;
    assert_eq!(
        a.body["result"]["content"][0]["text"], "via search",
        "{:?}",
        a.body
    );
    let a = tool_call(&gw.url, &auth, "a__echo", json!({"text": "direct"})).await;
    assert_eq!(
        a.body["result"]["content"][0]["text"], "direct",
        "{:?}",
        a.body
    );
    // A tool the role does not allow: the unknown-tool answer.
    let a = tool_call(
        &gw.url,
        &auth,
        "call_tool",
        json!({"name": "b__echo", "arguments": {"text": "x"}}),
    )
    .await;
    assert_eq!(a.body["error"]["code"], json!(-32602), "{:?}", a.body);
    assert_eq!(a.body["error"]["message"], "Unknown tool: b__echo");
    // Nothing matches: an empty answer that says so.
    let a = tool_call(
        &gw.url,
        &auth,
        "search_tools",
        json!({"query": "zzzz qqqq"}),
    )
    .await;
    assert_eq!(a.body["result"]["structuredContent"]["tools"], json!([]));
    assert!(
        a.body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("No tool matches")
    );
}
