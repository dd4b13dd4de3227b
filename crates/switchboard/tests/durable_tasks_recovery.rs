//! Durable tasks when things break, through the real gateway: SIGKILL of the gateway with
//! tasks in flight then a restart, once per store (SQLite, the machine's Redis, the machine's
//! PostgreSQL); two gateways on one shared store, one of them killed; a task store that goes
//! down while the gateway runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tasks::*;
use common::*;
use serde_json::json;

/// SIGKILL of the gateway with tasks in flight and queued, then a restart on the same store:
/// every accepted task ends `completed` with its own result — the in-flight ones on their
/// second attempt, once their leases lapsed.
async fn killed_gateway_finishes_its_tasks_after_a_restart(store: &str) {
    let dir = scratch_dir("durable-restart");
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "tasks:\n{store}  workers: 2\n  lease: 1s\n  poll_interval: 100ms\n  tools:\n    \"bench__slow\": {{mode: optional}}\nservers:\n{}",
            bench()
        ),
    )
    .unwrap();
    let mut gw = Gateway::start_file(&config);
    let mut ids = Vec::new();
    for ms in [3000, 3001, 3002, 3003] {
        let created = call_as_task(&gw.url, None, "bench__slow", json!({"ms": ms})).await;
        ids.push((ms, created["result"]["taskId"].as_str().unwrap().to_owned()));
    }
    // Two are claimed and mid-call, two wait in the queue: kill the gateway.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let _ = gw.proc.child.kill();
    let _ = gw.proc.child.wait();

    let gw = Gateway::start_file(&config);
    for (ms, id) in &ids {
        let done = settle(&gw.url, None, id, Duration::from_secs(40)).await;
        assert_eq!(
            done["result"]["status"],
            "completed",
            "{done}\n{}",
            gw.logs()
        );
        assert_eq!(
            done["result"]["result"]["content"][0]["text"],
            format!("slept {ms} ms"),
            "{done}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_finishes_its_tasks_after_a_restart_on_sqlite() {
    let dir = scratch_dir("durable-restart-sqlite");
    killed_gateway_finishes_its_tasks_after_a_restart(&format!(
        "  path: \"{}\"\n",
        dir.join("tasks.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_finishes_its_tasks_after_a_restart_on_redis() {
    let prefix = format!("sbtest:restart:{}:{}:", std::process::id(), free_port());
    killed_gateway_finishes_its_tasks_after_a_restart(&format!(
        "  store: redis\n  url: \"redis://127.0.0.1:6379\"\n  key_prefix: \"{prefix}\"\n"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_finishes_its_tasks_after_a_restart_on_postgres() {
    let schema = PgSchema::new("sb_restart");
    killed_gateway_finishes_its_tasks_after_a_restart(&format!(
        "  store: postgres\n  url: \"{}\"\n",
        schema.url()
    ))
    .await;
}

/// Two gateways on one shared store (the machine's Redis, or PostgreSQL): a task created on
/// one is read and cancelled on the other, and a task whose gateway is killed mid-call is
/// finished by the other once its lease lapses.
async fn two_replicas_share_tasks(store: &str) {
    let yaml = format!(
        "tasks:\n{store}  lease: 1s\n  poll_interval: 100ms\n  tools:\n    \"bench__slow\": {{mode: optional}}\nservers:\n{}",
        bench()
    );
    let mut a = Gateway::start(&yaml);
    // A task A claims before B exists, so it is A's call that dies below.
    let created = call_as_task(&a.url, None, "bench__slow", json!({"ms": 6000})).await;
    let id = created["result"]["taskId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = Gateway::start(&yaml);

    let created = call_as_task(&a.url, None, "bench__slow", json!({"ms": 20000})).await;
    let doomed = created["result"]["taskId"].as_str().unwrap().to_owned();
    let seen = task_method(&b.url, None, "tasks/get", &doomed).await;
    assert_eq!(seen["result"]["status"], "working", "{seen}");
    let cancel = task_method(&b.url, None, "tasks/cancel", &doomed).await;
    assert!(cancel["result"].is_object(), "{cancel}");
    let after = task_method(&a.url, None, "tasks/get", &doomed).await;
    assert_eq!(after["result"]["status"], "cancelled", "{after}");

    let _ = a.proc.child.kill();
    let _ = a.proc.child.wait();
    let done = settle(&b.url, None, &id, Duration::from_secs(40)).await;
    assert_eq!(
        done["result"]["status"],
        "completed",
        "{done}\n{}",
        b.logs()
    );
    assert_eq!(
        done["result"]["result"]["content"][0]["text"], "slept 6000 ms",
        "{done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_tasks_in_redis() {
    let prefix = format!("sbtest:durable:{}:{}:", std::process::id(), free_port());
    two_replicas_share_tasks(&format!(
        "  store: redis\n  url: \"redis://127.0.0.1:6379\"\n  key_prefix: \"{prefix}\"\n"
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_tasks_in_postgres() {
    let schema = PgSchema::new("sb_durable");
    two_replicas_share_tasks(&format!("  store: postgres\n  url: \"{}\"\n", schema.url())).await;
}

/// A Redis of the test's own on `port` (append-only file, fsync always, in `dir`), so it can
/// be killed and started again with its data.
fn own_redis(port: u16, dir: &std::path::Path) -> Proc {
    let p = spawn(std::process::Command::new("redis-server").args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &dir.display().to_string(),
    ]));
    wait_port(port, Duration::from_secs(10));
    p
}

/// The task store goes down while the gateway runs: task calls and `tasks/*` fail with an error
/// naming the store, plain calls go on, and once the store is back the tasks kept before are
/// there as they were and new tasks run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_store_down_mid_run_fails_task_calls_clearly_and_loses_nothing() {
    let dir = scratch_dir("durable-store-down");
    let port = free_port();
    let mut redis = own_redis(port, &dir);
    let gw = Gateway::start(&format!(
        "tasks:\n  store: redis\n  url: \"redis://127.0.0.1:{port}\"\n  lease: 1s\n  poll_interval: 100ms\n  tools:\n    \"bench__slow\": {{mode: optional}}\nservers:\n{}",
        bench()
    ));
    let created = call_as_task(&gw.url, None, "bench__slow", json!({"ms": 300})).await;
    let kept = created["result"]["taskId"].as_str().unwrap().to_owned();
    let done = settle(&gw.url, None, &kept, Duration::from_secs(20)).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");

    let _ = redis.child.kill();
    let _ = redis.child.wait();
    let refused = call_as_task(&gw.url, None, "bench__slow", json!({"ms": 1})).await;
    assert_eq!(refused["error"]["code"], -32603, "{refused}");
    let why = refused["error"]["message"].as_str().unwrap();
    assert!(
        why.contains("could not be kept") && why.contains("redis"),
        "{why}"
    );
    let unread = task_method(&gw.url, None, "tasks/get", &kept).await;
    assert_eq!(unread["error"]["code"], -32603, "{unread}");
    assert!(
        unread["error"]["message"]
            .as_str()
            .unwrap()
            .contains("task store"),
        "{unread}"
    );
    // A plain call does not need the store.
    let plain = request(
        &gw.url,
        None,
        "tools/call",
        "bench__echo",
        json!({"name": "bench__echo", "arguments": {"text": "still here"}}),
        false,
    )
    .await;
    assert_eq!(
        plain["result"]["content"][0]["text"], "still here",
        "{plain}"
    );

    let _redis = own_redis(port, &dir);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let back = loop {
        let got = task_method(&gw.url, None, "tasks/get", &kept).await;
        if got.get("result").is_some() || std::time::Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        back["result"]["status"],
        "completed",
        "{back}\n{}",
        gw.logs()
    );
    assert_eq!(
        back["result"]["result"]["content"][0]["text"], "slept 300 ms",
        "{back}"
    );
    let created = call_as_task(&gw.url, None, "bench__slow", json!({"ms": 2})).await;
    let again = created["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let done = settle(&gw.url, None, &again, Duration::from_secs(20)).await;
    assert_eq!(
        done["result"]["status"],
        "completed",
        "{done}\n{}",
        gw.logs()
    );
}
