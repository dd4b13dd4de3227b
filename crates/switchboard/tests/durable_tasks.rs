//! Durable tasks the gateway runs itself (`tasks:`), through the real gateway with
//! `bench-upstream` as the upstream: a 2026-07-28 client that declares the tasks extension gets
//! a `CreateTaskResult`, polls `tasks/get` until the result is in, may cancel, and nobody else
//! sees its task; roles, rule timeouts, progress and elicitation during a task. Recovery
//! (kills, restarts, replicas, a store down) is in `durable_tasks_recovery.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::tasks::*;
use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_call_runs_as_a_task_and_its_result_is_polled() {
    let dir = scratch_dir("durable-poll");
    let gw = Gateway::start(&format!(
        "admin: {{listen: \"127.0.0.1:0\"}}\ntasks:\n  path: \"{}\"\n  poll_interval: 200ms\n  tools:\n    \"bench__slow\": {{mode: optional}}\n    \"bench__echo\": {{mode: required}}\nservers:\n{}",
        dir.join("tasks.db").display(),
        bench()
    ));
    // The gateway says it serves tasks.
    let discover = request(&gw.url, None, "server/discover", "", json!({}), false).await;
    let exts = discover["result"]["capabilities"]["extensions"].to_string();
    assert!(exts.contains(EXT), "{discover}");

    let created = call_as_task(&gw.url, None, "bench__slow", json!({"ms": 400})).await;
    let r = &created["result"];
    assert_eq!(r["resultType"], "task", "{created}");
    assert_eq!(r["status"], "working", "{created}");
    assert_eq!(r["pollIntervalMs"], 200, "{created}");
    assert!(r["ttlMs"].as_i64().unwrap() > 0, "{created}");
    let id = r["taskId"].as_str().unwrap().to_owned();
    assert!(!id.contains('.'), "{id}");

    let done = settle(&gw.url, None, &id, Duration::from_secs(20)).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"], "slept 400 ms",
        "{done}"
    );

    // The admin listener counts it.
    let admin = gw.admin.clone().unwrap();
    let metrics = reqwest::get(format!("{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "mcp_tasks_created_total 1",
        "mcp_tasks_ended_total{status=\"completed\"} 1",
        "mcp_task_run_seconds_count{outcome=\"done\"} 1",
        "mcp_task_queue_wait_seconds_count 1",
    ] {
        assert!(metrics.contains(want), "missing {want:?} in:\n{metrics}");
    }

    // Without the declaration an optional task tool answers at once, as a plain call.
    let plain = request(
        &gw.url,
        None,
        "tools/call",
        "bench__slow",
        json!({"name": "bench__slow", "arguments": {"ms": 1}}),
        false,
    )
    .await;
    assert_eq!(
        plain["result"]["content"][0]["text"], "slept 1 ms",
        "{plain}"
    );
    // A required one refuses, naming the extension to declare.
    let refused = request(
        &gw.url,
        None,
        "tools/call",
        "bench__echo",
        json!({"name": "bench__echo", "arguments": {"text": "x"}}),
        false,
    )
    .await;
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
    assert!(
        refused["error"]["message"].as_str().unwrap().contains(EXT),
        "{refused}"
    );
    // An unknown task id is not found.
    let unknown = task_method(&gw.url, None, "tasks/get", "no-such-task").await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_their_owners_and_can_be_cancelled() {
    let dir = scratch_dir("durable-owner");
    let gw = Gateway::start(&format!(
        "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  dev: {{allow: [\"*\"]}}\ntasks:\n  path: \"{}\"\n  tools:\n    \"bench__*\": {{mode: optional}}\nservers:\n{}",
        dir.join("keys.json").display(),
        dir.join("tasks.db").display(),
        bench()
    ));
    let alice = keys_cli(&gw.config, &["create", "--name", "alice", "--role", "dev"]);
    let bob = keys_cli(&gw.config, &["create", "--name", "bob", "--role", "dev"]);
    let created = call_as_task(&gw.url, Some(&alice), "bench__slow", json!({"ms": 5000})).await;
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();

    // Bob cannot see, cancel or update Alice's task: it does not exist for him.
    for method in ["tasks/get", "tasks/cancel"] {
        let other = task_method(&gw.url, Some(&bob), method, &id).await;
        assert_eq!(other["error"]["code"], -32602, "{method}: {other}");
    }
    let mine = task_method(&gw.url, Some(&alice), "tasks/get", &id).await;
    assert_eq!(mine["result"]["status"], "working", "{mine}");

    let cancel = task_method(&gw.url, Some(&alice), "tasks/cancel", &id).await;
    assert!(cancel["result"].is_object(), "{cancel}");
    let after = task_method(&gw.url, Some(&alice), "tasks/get", &id).await;
    assert_eq!(after["result"]["status"], "cancelled", "{after}");
    // Cancelling an ended task again is harmless and changes nothing.
    task_method(&gw.url, Some(&alice), "tasks/cancel", &id).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let still = task_method(&gw.url, Some(&alice), "tasks/get", &id).await;
    assert_eq!(still["result"]["status"], "cancelled", "{still}");

    // The operator's view: `switchboard tasks` on the same store, no gateway in between.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(switchboard())
            .arg("tasks")
            .args(args)
            .arg("--config")
            .arg(&gw.config)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let running = call_as_task(&gw.url, Some(&alice), "bench__slow", json!({"ms": 20000})).await;
    let running = running["result"]["taskId"].as_str().unwrap().to_owned();
    let (ok, got) = cli(&["get", &running, "--json"]);
    assert!(ok, "{got}");
    let got: Value = serde_json::from_str(&got).unwrap();
    assert_eq!(got["status"], "working", "{got}");
    assert_eq!(got["tool"], "bench__slow", "{got}");
    let owner = got["owner"].as_str().unwrap().to_owned();
    let (ok, listed) = cli(&["list", "--owner", &owner]);
    assert!(
        ok && listed.contains(&id) && listed.contains(&running),
        "{listed}"
    );
    let (ok, out) = cli(&["cancel", &running]);
    assert!(ok && out.contains("cancelled"), "{out}");
    let after = task_method(&gw.url, Some(&alice), "tasks/get", &running).await;
    assert_eq!(after["result"]["status"], "cancelled", "{after}");
    let (ok, out) = cli(&["get", "no-such-task"]);
    assert!(!ok, "{out}");
}

/// A task runs with its owner's role as configured when it runs: a tool the role lost in a
/// reload while the task waited for a worker fails the task, as an unknown tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_with_its_owners_role_as_configured_when_it_runs() {
    let dir = scratch_dir("durable-role");
    let yaml = |allow: &str| {
        format!(
            "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  dev: {{allow: [\"{allow}\"]}}\ntasks:\n  path: \"{}\"\n  workers: 1\n  tools:\n    \"bench__slow\": {{mode: optional}}\nservers:\n{}",
            dir.join("keys.json").display(),
            dir.join("tasks.db").display(),
            bench()
        )
    };
    let config = dir.join("gateway.yaml");
    std::fs::write(&config, yaml("bench__*")).unwrap();
    let gw = Gateway::start_file(&config);
    let key = keys_cli(&gw.config, &["create", "--name", "carol", "--role", "dev"]);
    // The only worker is busy with the first task while the second waits.
    let first = call_as_task(&gw.url, Some(&key), "bench__slow", json!({"ms": 4000})).await;
    let second = call_as_task(&gw.url, Some(&key), "bench__slow", json!({"ms": 1})).await;
    let first = first["result"]["taskId"].as_str().unwrap().to_owned();
    let second = second["result"]["taskId"].as_str().unwrap().to_owned();
    let waiting = task_method(&gw.url, Some(&key), "tasks/get", &second).await;
    assert_eq!(waiting["result"]["status"], "working", "{waiting}");

    let next = config.with_extension("next");
    std::fs::write(&next, yaml("bench__echo")).unwrap();
    std::fs::rename(&next, &config).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = request(&gw.url, Some(&key), "tools/list", "", json!({}), false).await;
        if !list.to_string().contains("bench__slow") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reload not applied:\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let done = settle(&gw.url, Some(&key), &second, Duration::from_secs(20)).await;
    assert_eq!(done["result"]["status"], "failed", "{done}");
    assert_eq!(done["result"]["error"]["code"], -32602, "{done}");
    assert!(
        done["result"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bench__slow"),
        "{done}"
    );
    // The first was authorized when it started, and finishes.
    let done = settle(&gw.url, Some(&key), &first, Duration::from_secs(20)).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
}

/// A task rule's `timeout` replaces the server's for task runs: a call longer than the server
/// allows completes as a task, and a task run over its own limit fails as timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_rule_timeout_replaces_the_servers_for_task_runs() {
    let dir = scratch_dir("durable-timeout");
    let bin = workspace_bin("bench-upstream");
    let gw = Gateway::start(&format!(
        "tasks:\n  path: \"{}\"\n  retry: {{attempts: 1}}\n  tools:\n    \"long__*\": {{mode: optional, timeout: 10s}}\n    \"short__*\": {{mode: required, timeout: 300ms}}\nservers:\n{}    timeout: 500ms\n{}",
        dir.join("tasks.db").display(),
        stdio_entry("long", &bin, &[]),
        stdio_entry("short", &bin, &[]),
    ));
    let long = call_as_task(&gw.url, None, "long__slow", json!({"ms": 1500})).await;
    let short = call_as_task(&gw.url, None, "short__slow", json!({"ms": 3000})).await;
    let long = long["result"]["taskId"].as_str().unwrap().to_owned();
    let short = short["result"]["taskId"].as_str().unwrap().to_owned();
    let done = settle(&gw.url, None, &long, Duration::from_secs(20)).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"], "slept 1500 ms",
        "{done}"
    );
    let over = settle(&gw.url, None, &short, Duration::from_secs(20)).await;
    assert_eq!(over["result"]["status"], "failed", "{over}");
    assert_eq!(over["result"]["error"]["code"], -32003, "{over}");
}

/// An upstream's progress during a task (server-everything's long-running operation) becomes
/// the task's status message while it works; the result arrives as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_progress_becomes_the_tasks_status_message() {
    let dir = scratch_dir("durable-progress");
    let gw = Gateway::start(&format!(
        "tasks:\n  path: \"{}\"\n  tools:\n    \"everything__trigger-long-running-operation\": {{mode: optional}}\nservers:\n{}",
        dir.join("tasks.db").display(),
        stdio_entry(
            "everything",
            &node(),
            &[&everything_js(), std::path::Path::new("stdio")]
        )
    ));
    let tool = "everything__trigger-long-running-operation";
    let created = call_as_task(&gw.url, None, tool, json!({"duration": 3, "steps": 3})).await;
    let id = created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut messages = Vec::new();
    let last = loop {
        let got = task_method(&gw.url, None, "tasks/get", &id).await;
        if got["result"]["status"] != "working" || Instant::now() > deadline {
            break got;
        }
        if let Some(m) = got["result"]["statusMessage"].as_str()
            && messages.last() != Some(&m.to_owned())
        {
            messages.push(m.to_owned());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(last["result"]["status"], "completed", "{last}");
    assert!(
        last["result"]["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("completed"),
        "{last}"
    );
    assert!(
        messages.iter().any(|m| m == "1 of 3" || m == "2 of 3"),
        "no progress seen while it worked: {messages:?}"
    );
}

/// A task store that cannot be reached at start stops the gateway with an error naming the
/// key and the store, instead of accepting tasks it could not keep.
#[test]
fn an_unreachable_task_store_stops_the_start_naming_it() {
    let dir = scratch_dir("durable-down");
    for (store, want) in [
        (
            "store: redis\n  url: \"redis://127.0.0.1:1\"".to_owned(),
            "cannot connect to Redis at redis://127.0.0.1:1",
        ),
        (
            "store: postgres\n  url: \"postgres://postgres@127.0.0.1:1/test\"".to_owned(),
            "tasks.url: task store (postgres)",
        ),
        (
            format!("path: \"{}\"", dir.join("missing/dir/tasks.db").display()),
            "tasks.path: task store (sqlite)",
        ),
    ] {
        let config = tmp_file(
            "durable-down.yaml",
            &format!(
                "tasks:\n  {store}\n  tools: {{\"bench__*\": {{mode: optional}}}}\nservers:\n{}",
                bench()
            ),
        );
        let out = std::process::Command::new(switchboard())
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{store}: {err}");
        assert!(err.contains(want), "{store}: missing {want:?} in {err}");
    }
}

/// An upstream's elicitation during a task (the Python SDK server's `ask_name`) makes the task
/// `input_required` with the request in `inputRequests`; `tasks/update` answers it (keys not
/// outstanding are ignored) and the task completes with the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_elicitation_during_a_task_is_answered_with_tasks_update() {
    let dir = scratch_dir("durable-elicit");
    let gw = Gateway::start(&format!(
        "tasks:\n  path: \"{}\"\n  poll_interval: 100ms\n  tools:\n    \"py__ask_name\": {{mode: required}}\nservers:\n{}",
        dir.join("tasks.db").display(),
        stdio_entry("py", &python(), &[&harness().join("servers/py_server.py")])
    ));
    // A client that can answer elicitations (a call from one that cannot is refused by the
    // upstream's request failing, as for a plain call).
    let created = request(
        &gw.url,
        None,
        "tools/call",
        "py__ask_name",
        json!({"name": "py__ask_name", "arguments": {}, "_meta": {"caps": {"elicitation": {}}}}),
        true,
    )
    .await;
    let id = created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}\n{}", gw.logs()))
        .to_owned();
    let asked = settle(&gw.url, None, &id, Duration::from_secs(30)).await;
    assert_eq!(
        asked["result"]["status"],
        "input_required",
        "{asked}\n{}",
        gw.logs()
    );
    let requests = asked["result"]["inputRequests"].as_object().unwrap();
    assert_eq!(requests.len(), 1, "{asked}");
    let (key, request) = requests.iter().next().unwrap();
    assert_eq!(request["method"], "elicitation/create", "{asked}");
    assert_eq!(
        request["params"]["message"], "What is your name?",
        "{asked}"
    );

    let ignored = request_update(&gw.url, &id, json!({"not-asked": {"action": "decline"}})).await;
    assert!(ignored["result"].is_object(), "{ignored}");
    let still = task_method(&gw.url, None, "tasks/get", &id).await;
    assert_eq!(still["result"]["status"], "input_required", "{still}");
    let ack = request_update(
        &gw.url,
        &id,
        json!({key: {"action": "accept", "content": {"name": "Ada"}}}),
    )
    .await;
    assert!(ack["result"].is_object(), "{ack}");
    let done = settle(&gw.url, None, &id, Duration::from_secs(30)).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"], "hello Ada",
        "{done}"
    );
    assert!(done["result"].get("inputRequests").is_none(), "{done}");
}

/// An upstream's own tasks (the fixture's, 2026-07-28 extension) relayed to a modern client:
/// the id the client gets is bound to it (`<server>.<id>.<tag>`), so another identity — or a
/// forged tag — gets the answer for an unknown task, while the owner polls it to its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_upstream_tasks_answer_their_owner_only() {
    let dir = scratch_dir("durable-relay-owner");
    let gw = Gateway::start(&format!(
        "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  dev: {{allow: [\"conf__*\"]}}\nservers:\n{}",
        dir.join("keys.json").display(),
        stdio_entry("conf", &workspace_bin("conformance-server"), &[])
    ));
    let alice = keys_cli(&gw.config, &["create", "--name", "alice", "--role", "dev"]);
    let bob = keys_cli(&gw.config, &["create", "--name", "bob", "--role", "dev"]);
    let created = call_as_task(
        &gw.url,
        Some(&alice),
        "conf__slow_compute",
        json!({"seconds": 1, "label": "relayed"}),
    )
    .await;
    assert_eq!(created["result"]["resultType"], "task", "{created}");
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = id.splitn(2, '.').collect();
    assert_eq!(parts[0], "conf", "{id}");
    let (_, tag) = id.rsplit_once('.').unwrap();
    assert!(tag.len() >= 20, "{id}");

    let forged = format!("{}.{}", id.rsplit_once('.').unwrap().0, "A".repeat(22));
    for (key, task) in [(&bob, id.as_str()), (&alice, forged.as_str())] {
        for method in ["tasks/get", "tasks/cancel"] {
            let got = task_method(&gw.url, Some(key), method, task).await;
            assert_eq!(got["error"]["code"], -32602, "{method} {task}: {got}");
        }
    }
    let done = settle(&gw.url, Some(&alice), &id, Duration::from_secs(20)).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(done["result"]["taskId"], id.as_str(), "{done}");
    assert!(
        done["result"]["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("relayed"),
        "{done}"
    );
}

/// A session-era upstream's own 2025-11-25 tasks (a TypeScript SDK server), bridged to a
/// 2026-07-28 client: a flat `CreateTaskResult` with a bound id, `tasks/get` with the result
/// inlined once completed (a tool's `isError` result a `completed` task, as the extension
/// says), and `tasks/cancel` acknowledged with the task cancelled upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_era_upstreams_tasks_are_bridged_to_modern_clients() {
    let gw = Gateway::start(&format!(
        "servers:\n{}",
        stdio_entry(
            "tsk",
            &node(),
            &[&harness().join("servers/ts_tasks_server.mjs")]
        )
    ));
    let discover = request(&gw.url, None, "server/discover", "", json!({}), true).await;
    assert!(
        discover["result"]["capabilities"]["extensions"][EXT].is_object(),
        "{discover}"
    );
    let created = call_as_task(&gw.url, None, "tsk__slow", json!({"ms": 600})).await;
    assert_eq!(
        created["result"]["resultType"],
        "task",
        "{created}\n{}",
        gw.logs()
    );
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("tsk."), "{id}");
    assert!(created["result"].get("task").is_none(), "flat: {created}");
    assert!(created["result"]["ttlMs"].is_number() || created["result"]["ttlMs"].is_null());
    let done = settle(&gw.url, None, &id, Duration::from_secs(20)).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(done["result"]["taskId"], id.as_str(), "{done}");
    assert_eq!(
        done["result"]["result"]["content"][0]["text"], "slept 600ms",
        "{done}"
    );
    assert!(
        done["result"]["result"]["_meta"]
            .get("io.modelcontextprotocol/related-task")
            .is_none(),
        "{done}"
    );

    let created = call_as_task(&gw.url, None, "tsk__fail_slow", json!({"ms": 100})).await;
    let failing = created["result"]["taskId"].as_str().unwrap().to_owned();
    let done = settle(&gw.url, None, &failing, Duration::from_secs(20)).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    assert_eq!(done["result"]["result"]["isError"], true, "{done}");

    let created = call_as_task(&gw.url, None, "tsk__slow", json!({"ms": 20000})).await;
    let long = created["result"]["taskId"].as_str().unwrap().to_owned();
    let ack = task_method(&gw.url, None, "tasks/cancel", &long).await;
    assert!(ack["result"].is_object(), "{ack}");
    let after = task_method(&gw.url, None, "tasks/get", &long).await;
    assert_eq!(after["result"]["status"], "cancelled", "{after}");
    let again = task_method(&gw.url, None, "tasks/cancel", &long).await;
    assert!(
        again["result"].is_object(),
        "cancel of an ended task is acknowledged: {again}"
    );
}

/// `notifications/tasks` on a `subscriptions/listen` stream naming `taskIds`: only the caller's
/// tasks are honoured (in the acknowledgement), each is sent as `tasks/get` shows it — tagged
/// with the subscription id — until it ends with its result inlined; a listen naming tasks
/// without the extension declared is refused with -32021.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_stream_hears_its_tasks_change() {
    let dir = scratch_dir("durable-listen");
    let gw = Gateway::start(&format!(
        "auth:\n  api_keys: {{file: \"{}\"}}\nroles:\n  dev: {{allow: [\"bench__*\"]}}\ntasks:\n  path: \"{}\"\n  poll_interval: 100ms\n  tools:\n    \"bench__slow\": {{mode: optional}}\nservers:\n{}",
        dir.join("keys.json").display(),
        dir.join("tasks.db").display(),
        bench()
    ));
    let alice = keys_cli(&gw.config, &["create", "--name", "alice", "--role", "dev"]);
    let bob = keys_cli(&gw.config, &["create", "--name", "bob", "--role", "dev"]);
    let mine = call_as_task(&gw.url, Some(&alice), "bench__slow", json!({"ms": 700})).await;
    let mine = mine["result"]["taskId"].as_str().unwrap().to_owned();
    let theirs = call_as_task(&gw.url, Some(&bob), "bench__slow", json!({"ms": 1})).await;
    let theirs = theirs["result"]["taskId"].as_str().unwrap().to_owned();

    let listen = |caps: Value| {
        let body = json!({"jsonrpc": "2.0", "id": 61, "method": "subscriptions/listen", "params": {
            "notifications": {"taskIds": [mine, theirs]},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": caps,
            }
        }});
        reqwest::Client::new()
            .post(&gw.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "subscriptions/listen")
            .header("x-api-key", &alice)
            .body(body.to_string())
            .send()
    };
    let refused = listen(json!({})).await.unwrap();
    assert_eq!(refused.status(), 400);
    let refused: Value = serde_json::from_str(&refused.text().await.unwrap()).unwrap();
    assert_eq!(refused["error"]["code"], -32021, "{refused}");

    let mut stream = listen(json!({"extensions": {EXT: {}}})).await.unwrap();
    let mut events: Vec<Value> = Vec::new();
    let mut buf = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !events
        .iter()
        .any(|e| e["method"] == "notifications/tasks" && e["params"]["status"] == "completed")
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no completion heard: {events:?}"))
            .unwrap()
            .expect("the stream stayed open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        events = buf
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect();
    }
    assert_eq!(
        events[0]["method"], "notifications/subscriptions/acknowledged",
        "{events:?}"
    );
    assert_eq!(
        events[0]["params"]["notifications"]["taskIds"],
        json!([mine]),
        "only the caller's task: {events:?}"
    );
    let tasks: Vec<&Value> = events
        .iter()
        .filter(|e| e["method"] == "notifications/tasks")
        .collect();
    assert!(
        tasks.iter().all(|e| e["params"]["taskId"] == mine.as_str()),
        "{tasks:?}"
    );
    assert!(
        tasks
            .iter()
            .all(|e| e["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 61),
        "{tasks:?}"
    );
    assert_eq!(tasks[0]["params"]["status"], "working", "{tasks:?}");
    let last = tasks.last().unwrap();
    assert_eq!(
        last["params"]["result"]["content"][0]["text"], "slept 700 ms",
        "{last}"
    );
}
