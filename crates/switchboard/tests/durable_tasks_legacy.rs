//! Durable tasks for 2025-11-25 clients (the core spec's experimental tasks), through the real
//! gateway with `bench-upstream` as the upstream: `initialize` declares `capabilities.tasks`,
//! task tools are listed with `execution.taskSupport`, a `tools/call` with `params.task`
//! answers the nested `CreateTaskResult`, `tasks/result` blocks until the task ended and
//! answers the call's own result tagged `related-task`, `tasks/list` pages the caller's tasks,
//! `tasks/cancel` answers the cancelled task — and the errors the spec names for the rest.
//! The TypeScript SDK's task client drives the same gateway in `durable_tasks_sdk.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::raw_http::{initialize, post};
use common::tasks::bench_task_gateway as gateway;
use common::*;
use serde_json::{Value, json};

/// One request of session `sid`, its JSON-RPC answer.
async fn rpc(url: &str, sid: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": method, "params": params});
    let r = post(url, Some(sid), &body.to_string()).await;
    sse_or_json(&r.body)
}

/// The JSON-RPC answer in a body that is JSON or an SSE stream (the last `data:` event that
/// answers a request).
fn sse_or_json(body: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v;
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .rfind(|v| v.get("result").is_some() || v.get("error").is_some())
        .unwrap_or_else(|| panic!("no answer in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_client_creates_a_task_and_blocks_on_its_result() {
    let dir = scratch_dir("durable-legacy");
    let gw = gateway(&dir, "");
    let sid = initialize(&gw.url).await;
    let init = post(&gw.url, None, common::raw_http::INIT).await.json();
    assert_eq!(
        init["result"]["capabilities"]["tasks"],
        json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}),
        "{init}"
    );
    let tools = rpc(&gw.url, &sid, "tools/list", json!({})).await;
    let support = |name: &str| {
        tools["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["execution"]["taskSupport"].clone())
            .unwrap_or_else(|| panic!("{name} not listed: {tools}"))
    };
    assert_eq!(support("bench__slow"), "optional");
    assert_eq!(support("bench__pid"), "required");
    assert_eq!(support("bench__echo"), Value::Null, "{tools}");

    let created = rpc(
        &gw.url,
        &sid,
        "tools/call",
        json!({"name": "bench__slow", "arguments": {"ms": 800}, "task": {"ttl": 60000}}),
    )
    .await;
    let task = &created["result"]["task"];
    let id = task["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"));
    assert_eq!(task["status"], "working", "{created}");
    assert_eq!(
        task["ttl"], 60000,
        "asked for less than the 10m allowed: {created}"
    );
    assert_eq!(task["pollInterval"], 100, "{created}");
    assert!(
        task["createdAt"].as_str().unwrap().ends_with('Z'),
        "{created}"
    );
    assert!(created["result"].get("resultType").is_none(), "{created}");

    let got = rpc(&gw.url, &sid, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["taskId"], id, "{got}");
    assert!(got["result"].get("result").is_none(), "{got}");
    // tasks/result blocks until the call is done, then answers the call's own result.
    let started = Instant::now();
    let result = rpc(&gw.url, &sid, "tasks/result", json!({"taskId": id})).await;
    assert_eq!(
        result["result"]["content"][0]["text"], "slept 800 ms",
        "{result}"
    );
    assert_eq!(
        result["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], id,
        "{result}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let got = rpc(&gw.url, &sid, "tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["result"]["status"], "completed", "{got}");

    // A tool's isError result is a failed task for this era; tasks/result still answers it.
    let created = rpc(
        &gw.url,
        &sid,
        "tools/call",
        json!({"name": "bench__fail", "arguments": {}, "task": {}}),
    )
    .await;
    let failing = created["result"]["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created["result"]["task"]["ttl"], 600000, "{created}");
    let result = rpc(&gw.url, &sid, "tasks/result", json!({"taskId": failing})).await;
    assert_eq!(result["result"]["isError"], true, "{result}");
    let got = rpc(&gw.url, &sid, "tasks/get", json!({"taskId": failing})).await;
    assert_eq!(got["result"]["status"], "failed", "{got}");
    assert!(got["result"]["statusMessage"].is_string(), "{got}");

    // Listed, newest first; cancel of an ended task is refused naming its status.
    let list = rpc(&gw.url, &sid, "tasks/list", json!({})).await;
    let ids: Vec<&str> = list["result"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![failing.as_str(), id], "{list}");
    let cancel = rpc(&gw.url, &sid, "tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(cancel["error"]["code"], -32602, "{cancel}");
    assert!(
        cancel["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'completed'"),
        "{cancel}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_task_is_cancelled_and_bad_asks_are_named() {
    let dir = scratch_dir("durable-legacy-bad");
    let gw = gateway(&dir, "");
    let sid = initialize(&gw.url).await;
    let created = rpc(
        &gw.url,
        &sid,
        "tools/call",
        json!({"name": "bench__slow", "arguments": {"ms": 20000}, "task": {}}),
    )
    .await;
    let id = created["result"]["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancel = rpc(&gw.url, &sid, "tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(cancel["result"]["taskId"], id.as_str(), "{cancel}");
    assert_eq!(cancel["result"]["status"], "cancelled", "{cancel}");
    let result = rpc(&gw.url, &sid, "tasks/result", json!({"taskId": id})).await;
    assert_eq!(result["error"]["code"], -32603, "{result}");
    assert!(
        result["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled"),
        "{result}"
    );
    // The call stops at once (the upstream hears `notifications/cancelled`), not at the next
    // heartbeat, 10 s away with the default 30 s lease.
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        let seen = rpc(
            &gw.url,
            &sid,
            "tools/call",
            json!({"name": "bench__cancelled", "arguments": {}}),
        )
        .await;
        if seen["result"]["content"][0]["text"] != "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the call was not stopped: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The errors the spec names.
    let call = |params: Value| rpc(&gw.url, &sid, "tools/call", params);
    let forbidden = call(json!({"name": "bench__echo", "arguments": {}, "task": {}})).await;
    assert_eq!(forbidden["error"]["code"], -32601, "{forbidden}");
    assert!(
        forbidden["error"]["message"]
            .as_str()
            .unwrap()
            .contains("forbidden"),
        "{forbidden}"
    );
    let required = call(json!({"name": "bench__pid", "arguments": {}})).await;
    assert_eq!(required["error"]["code"], -32601, "{required}");
    assert!(
        required["error"]["message"]
            .as_str()
            .unwrap()
            .contains("required"),
        "{required}"
    );
    for ttl in [json!(0), json!(-5), json!("1h")] {
        let bad = call(json!({"name": "bench__slow", "arguments": {}, "task": {"ttl": ttl}})).await;
        assert_eq!(bad["error"]["code"], -32602, "{bad}");
        assert!(
            bad["error"]["message"]
                .as_str()
                .unwrap()
                .contains("task.ttl"),
            "{bad}"
        );
    }
    let bad = call(json!({"name": "bench__slow", "arguments": {}, "task": 5})).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let unknown = rpc(&gw.url, &sid, method, json!({"taskId": "no-such-task"})).await;
        assert_eq!(unknown["error"]["code"], -32602, "{method}: {unknown}");
    }
    let bad_cursor = rpc(&gw.url, &sid, "tasks/list", json!({"cursor": "nope"})).await;
    assert_eq!(bad_cursor["error"]["code"], -32602, "{bad_cursor}");
    // A plain call of an optional task tool is an ordinary call.
    let plain = call(json!({"name": "bench__slow", "arguments": {"ms": 1}})).await;
    assert_eq!(
        plain["result"]["content"][0]["text"], "slept 1 ms",
        "{plain}"
    );
}

/// Tasks belong to the identity that created them, across sessions: the same key in a new
/// session sees them; another key gets the unknown-task answer and an empty list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_tasks_belong_to_their_creator_across_sessions() {
    let dir = scratch_dir("durable-legacy-owner");
    let keys = dir.join("keys.json");
    let gw = gateway(
        &dir,
        &format!(
            "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  dev: {{allow: [\"bench__*\"]}}\n",
            keys.display()
        ),
    );
    let alice = keys_cli(&gw.config, &["create", "--name", "alice", "--role", "dev"]);
    let bob = keys_cli(&gw.config, &["create", "--name", "bob", "--role", "dev"]);
    let client = |key: String| {
        let url = gw.url.clone();
        move |method: &'static str, params: Value| {
            let (url, key) = (url.clone(), key.clone());
            async move {
                let body = json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params});
                let init = common::raw_http::send(
                    reqwest::Method::POST,
                    &url,
                    None,
                    Some(common::raw_http::INIT),
                    &[("x-api-key", &key)],
                )
                .await;
                let sid = init.headers["mcp-session-id"].to_str().unwrap().to_owned();
                let r = common::raw_http::send(
                    reqwest::Method::POST,
                    &url,
                    Some(&sid),
                    Some(&body.to_string()),
                    &[("x-api-key", &key)],
                )
                .await;
                sse_or_json(&r.body)
            }
        }
    };
    let (alice, bob) = (client(alice), client(bob));
    let created = alice(
        "tools/call",
        json!({"name": "bench__slow", "arguments": {"ms": 3000}, "task": {}}),
    )
    .await;
    let id = created["result"]["task"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let mine = alice("tasks/get", json!({"taskId": id})).await;
    assert_eq!(mine["result"]["status"], "working", "{mine}");
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let theirs = bob(method, json!({"taskId": id})).await;
        assert_eq!(theirs["error"]["code"], -32602, "{method}: {theirs}");
        assert_eq!(
            theirs["error"]["message"], "Invalid params: Failed to retrieve task: Task not found",
            "{theirs}"
        );
    }
    let listed = bob("tasks/list", json!({})).await;
    assert_eq!(listed["result"]["tasks"], json!([]), "{listed}");
    let listed = alice("tasks/list", json!({})).await;
    assert_eq!(
        listed["result"]["tasks"][0]["taskId"],
        id.as_str(),
        "{listed}"
    );
    let still = alice("tasks/get", json!({"taskId": id})).await;
    assert_ne!(still["result"]["status"], "cancelled", "{still}");
}

/// `tasks/list` pages 50 tasks at a time, newest first, with an opaque cursor to the next page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_list_pages_the_callers_tasks() {
    let dir = scratch_dir("durable-legacy-pages");
    let gw = gateway(&dir, "");
    let sid = initialize(&gw.url).await;
    let mut made = Vec::new();
    for _ in 0..55 {
        let created = rpc(
            &gw.url,
            &sid,
            "tools/call",
            json!({"name": "bench__slow", "arguments": {"ms": 0}, "task": {}}),
        )
        .await;
        made.push(
            created["result"]["task"]["taskId"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let first = rpc(&gw.url, &sid, "tasks/list", json!({})).await;
    let page = first["result"]["tasks"].as_array().unwrap();
    assert_eq!(page.len(), 50, "{first}");
    let cursor = first["result"]["nextCursor"].as_str().unwrap();
    let second = rpc(&gw.url, &sid, "tasks/list", json!({"cursor": cursor})).await;
    let rest = second["result"]["tasks"].as_array().unwrap();
    assert_eq!(rest.len(), 5, "{second}");
    assert!(second["result"].get("nextCursor").is_none(), "{second}");
    // Every task once, newest first (tasks made in one millisecond may come in any order).
    let mut listed: Vec<&str> = page
        .iter()
        .chain(rest)
        .map(|t| t["taskId"].as_str().unwrap())
        .collect();
    let created: Vec<&str> = page
        .iter()
        .chain(rest)
        .map(|t| t["createdAt"].as_str().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");
    listed.sort_unstable();
    let mut all: Vec<&str> = made.iter().map(String::as_str).collect();
    all.sort_unstable();
    assert_eq!(listed, all);
}

/// `notifications/tasks/status`: the session that created a task hears on its standalone
/// stream when the task ends — completed, or cancelled — with the task as `tasks/get` shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_session_hears_when_its_tasks_end() {
    let dir = scratch_dir("durable-legacy-status");
    let gw = gateway(&dir, "");
    let sid = initialize(&gw.url).await;
    let mut events = reqwest::Client::new()
        .get(&gw.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let call = |ms: u64| {
        rpc(
            &gw.url,
            &sid,
            "tools/call",
            json!({"name": "bench__slow", "arguments": {"ms": ms}, "task": {}}),
        )
    };
    let done = call(300).await["result"]["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    let stopped = call(20000).await["result"]["task"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancel = rpc(&gw.url, &sid, "tasks/cancel", json!({"taskId": stopped})).await;
    assert_eq!(cancel["result"]["status"], "cancelled", "{cancel}");

    let mut heard = std::collections::HashMap::new();
    let mut buf = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while heard.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, events.chunk())
            .await
            .unwrap_or_else(|_| panic!("heard only {heard:?} in {buf}"))
            .unwrap()
            .expect("the stream stayed open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        for line in buf.lines().filter_map(|l| l.strip_prefix("data:")) {
            if let Ok(v) = serde_json::from_str::<Value>(line.trim())
                && v["method"] == "notifications/tasks/status"
            {
                heard.insert(
                    v["params"]["taskId"].as_str().unwrap().to_owned(),
                    v["params"].clone(),
                );
            }
        }
    }
    assert_eq!(heard[&done]["status"], "completed", "{heard:?}");
    assert!(heard[&done]["ttl"].is_number(), "{heard:?}");
    assert_eq!(heard[&stopped]["status"], "cancelled", "{heard:?}");
}
