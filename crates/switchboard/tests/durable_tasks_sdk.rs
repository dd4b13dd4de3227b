//! Durable tasks driven by the TypeScript SDK's 2025-11-25 task client
//! (`tests/harness/clients/ts_tasks_client.mjs`, `client.experimental.tasks`) through the real
//! gateway: gateway-run tasks streamed to their result, listed and cancelled, an elicitation
//! during a task answered, progress heard under the client's token; and an upstream's own
//! tasks (a TypeScript SDK task server) relayed to their owner only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tasks::{bench_task_gateway as gateway, of_type, ts_tasks};
use common::*;
use serde_json::json;

/// The TypeScript SDK's task client against the gateway: it sees the capability and the
/// tool's `taskSupport`, streams a task to its result, cancels one, and lists them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_client_runs_lists_and_cancels_tasks() {
    let dir = scratch_dir("durable-legacy-sdk");
    let gw = gateway(&dir, "");
    let url = gw.url.clone();
    let (ok, tools) = tokio::task::spawn_blocking(move || ts_tasks(&url, None, &["tools"]))
        .await
        .unwrap();
    assert!(ok, "{tools:?}");
    let tools = &tools[0];
    assert!(
        tools["capabilities"]["tasks"]["requests"]["tools"]["call"].is_object(),
        "{tools}"
    );
    assert!(
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "bench__slow" && t["execution"]["taskSupport"] == "optional"),
        "{tools}"
    );

    let url = gw.url.clone();
    let (ok, lines) = tokio::task::spawn_blocking(move || {
        ts_tasks(
            &url,
            None,
            &["call-task", "bench__slow", r#"{"ms":1200}"#, "30000"],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{lines:?}\n{}", gw.logs());
    let created = of_type(&lines, "taskCreated");
    assert_eq!(created.len(), 1, "{lines:?}");
    let id = created[0]["task"]["taskId"].as_str().unwrap().to_owned();
    assert_eq!(created[0]["task"]["ttl"], 30000, "{lines:?}");
    assert!(!of_type(&lines, "taskStatus").is_empty(), "{lines:?}");
    let result = of_type(&lines, "result");
    assert_eq!(result.len(), 1, "{lines:?}");
    assert_eq!(
        result[0]["result"]["content"][0]["text"], "slept 1200 ms",
        "{lines:?}"
    );
    assert_eq!(
        result[0]["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        id.as_str()
    );

    let url = gw.url.clone();
    let (ok, lines) = tokio::task::spawn_blocking(move || {
        ts_tasks(
            &url,
            None,
            &["create-and-cancel", "bench__slow", r#"{"ms":20000}"#],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{lines:?}");
    let cancelled = of_type(&lines, "cancel");
    assert_eq!(cancelled[0]["result"]["status"], "cancelled", "{lines:?}");
    assert_eq!(
        of_type(&lines, "get")[0]["result"]["status"],
        "cancelled",
        "{lines:?}"
    );
    let gone = cancelled[0]["result"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();

    let url = gw.url.clone();
    let (ok, lines) = tokio::task::spawn_blocking(move || ts_tasks(&url, None, &["list"]))
        .await
        .unwrap();
    assert!(ok, "{lines:?}");
    let listed: Vec<&str> = lines[0]["result"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![gone.as_str(), id.as_str()], "{lines:?}");
    // Another process (a new session) cancelling an ended task: refused by the SDK's error.
    let url = gw.url.clone();
    let (ok, lines) = tokio::task::spawn_blocking(move || ts_tasks(&url, None, &["cancel", &id]))
        .await
        .unwrap();
    assert!(ok, "{lines:?}");
    assert_eq!(lines[0]["type"], "error", "{lines:?}");
    assert_eq!(lines[0]["code"], -32602, "{lines:?}");
}

/// An upstream's elicitation during a task reaches a 2025-11-25 client on its `tasks/result`
/// stream, tagged `related-task`; the TypeScript SDK answers it and the task completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_client_answers_an_elicitation_during_a_task() {
    let dir = scratch_dir("durable-legacy-elicit");
    let gw = Gateway::start(&format!(
        "tasks:\n  path: \"{}\"\n  poll_interval: 100ms\n  tools:\n    \"py__ask_name\": {{mode: required}}\nservers:\n{}",
        dir.join("tasks.db").display(),
        stdio_entry("py", &python(), &[&harness().join("servers/py_server.py")])
    ));
    let url = gw.url.clone();
    let (ok, lines) = tokio::task::spawn_blocking(move || {
        ts_tasks(
            &url,
            None,
            &[
                "call-task-elicit",
                "py__ask_name",
                "{}",
                r#"{"name":"Ada"}"#,
            ],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{lines:?}\n{}", gw.logs());
    let id = of_type(&lines, "taskCreated")[0]["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    let asked = of_type(&lines, "elicitation");
    assert_eq!(asked.len(), 1, "{lines:?}");
    assert_eq!(
        asked[0]["params"]["message"], "What is your name?",
        "{lines:?}"
    );
    assert_eq!(
        asked[0]["params"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        id.as_str(),
        "{lines:?}"
    );
    assert!(
        of_type(&lines, "taskStatus")
            .iter()
            .any(|l| l["task"]["status"] == "input_required"),
        "{lines:?}"
    );
    let result = of_type(&lines, "result");
    assert_eq!(
        result[0]["result"]["content"][0]["text"], "hello Ada",
        "{lines:?}"
    );
}

/// The upstream's progress during a 2025-11-25 task reaches the client under its own
/// `progressToken` (server-everything's long-running operation, the TypeScript SDK's
/// `onprogress`), while the task is polled to its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_client_hears_a_tasks_progress_under_its_token() {
    let dir = scratch_dir("durable-legacy-progress");
    let tool = "everything__trigger-long-running-operation";
    let gw = Gateway::start(&format!(
        "tasks:\n  path: \"{}\"\n  poll_interval: 200ms\n  tools:\n    \"{tool}\": {{mode: optional}}\nservers:\n{}",
        dir.join("tasks.db").display(),
        stdio_entry(
            "everything",
            &node(),
            &[&everything_js(), std::path::Path::new("stdio")]
        )
    ));
    let url = gw.url.clone();
    let (ok, lines) = tokio::task::spawn_blocking(move || {
        ts_tasks(
            &url,
            None,
            &["call-task", tool, r#"{"duration":2,"steps":4}"#],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{lines:?}\n{}", gw.logs());
    let progress = of_type(&lines, "progress");
    assert!(!progress.is_empty(), "no progress heard: {lines:?}");
    assert!(progress.iter().all(|p| p["total"] == 4), "{lines:?}");
    let result = of_type(&lines, "result");
    assert!(
        result[0]["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("completed"),
        "{lines:?}"
    );
}

/// An upstream's own 2025-11-25 tasks (a TypeScript SDK server with experimental tasks),
/// relayed to the TypeScript SDK's task client: the gateway declares `capabilities.tasks`,
/// keeps the upstream's `taskSupport` marks, relays `params.task`, and hands out task ids bound
/// to the caller — another identity gets the unknown-task answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstreams_own_tasks_are_relayed_to_their_owner() {
    let dir = scratch_dir("durable-legacy-relay");
    let gw = Gateway::start(&format!(
        "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  dev: {{allow: [\"tsk__*\"]}}\nservers:\n{}",
        dir.join("keys.json").display(),
        stdio_entry(
            "tsk",
            &node(),
            &[&harness().join("servers/ts_tasks_server.mjs")]
        )
    ));
    let alice = keys_cli(&gw.config, &["create", "--name", "alice", "--role", "dev"]);
    let bob = keys_cli(&gw.config, &["create", "--name", "bob", "--role", "dev"]);
    let run = |key: &str, args: &[&str]| {
        let (url, key) = (gw.url.clone(), key.to_owned());
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ts_tasks(&url, Some(&key), &args)
        })
    };
    let (ok, tools) = run(&alice, &["tools"]).await.unwrap();
    assert!(ok, "{tools:?}");
    let tools = &tools[0];
    assert!(
        tools["capabilities"]["tasks"]["requests"]["tools"]["call"].is_object(),
        "{tools}"
    );
    let support = |name: &str| {
        tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["execution"]["taskSupport"].clone())
    };
    assert_eq!(support("tsk__slow"), Some(json!("optional")), "{tools}");
    assert_eq!(
        support("tsk__fail_slow"),
        Some(json!("required")),
        "{tools}"
    );

    let (ok, lines) = run(&alice, &["call-task", "tsk__slow", r#"{"ms":600}"#])
        .await
        .unwrap();
    assert!(ok, "{lines:?}\n{}", gw.logs());
    let id = of_type(&lines, "taskCreated")[0]["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.starts_with("tsk."), "{id}");
    let result = of_type(&lines, "result");
    assert_eq!(
        result[0]["result"]["content"][0]["text"], "slept 600ms",
        "{lines:?}"
    );
    assert_eq!(
        result[0]["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        id.as_str(),
        "{lines:?}"
    );
    for method in ["get", "result", "cancel"] {
        let (ok, theirs) = run(&bob, &[method, &id]).await.unwrap();
        assert!(ok, "{theirs:?}");
        assert_eq!(theirs[0]["type"], "error", "bob {method}: {theirs:?}");
        assert_eq!(theirs[0]["code"], -32602, "bob {method}: {theirs:?}");
    }
    let (ok, mine) = run(&alice, &["get", &id]).await.unwrap();
    assert!(ok, "{mine:?}");
    assert_eq!(mine[0]["result"]["status"], "completed", "{mine:?}");
    assert_eq!(mine[0]["result"]["taskId"], id.as_str(), "{mine:?}");

    let (ok, lines) = run(
        &alice,
        &["create-and-cancel", "tsk__slow", r#"{"ms":20000}"#],
    )
    .await
    .unwrap();
    assert!(ok, "{lines:?}");
    assert_eq!(
        of_type(&lines, "cancel")[0]["result"]["status"],
        "cancelled",
        "{lines:?}"
    );
    assert_eq!(
        of_type(&lines, "get")[0]["result"]["status"],
        "cancelled",
        "{lines:?}"
    );
}
