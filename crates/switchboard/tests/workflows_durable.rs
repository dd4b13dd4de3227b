//! Durable workflow runs (`task: true`, on the task store): SIGKILL of the gateway while runs
//! are mid-step, a restart on the same store, and each run finishes from its checkpoint —
//! finished steps are not called again, an idempotent step that was cut runs again, and a
//! step that is not idempotent is not called twice (the run fails saying why, and compensates).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::tasks::*;
use common::*;
use serde_json::{Value, json};

fn journal(path: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| {
            (
                e["op"].as_str().unwrap().to_owned(),
                e["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn count(j: &[(String, String)], op: &str, id: &str) -> usize {
    j.iter().filter(|(o, i)| o == op && i == id).count()
}

async fn killed_mid_run_finishes_from_its_checkpoint(dir: &std::path::Path, store: &str) {
    let journal_file = dir.join("journal.jsonl");
    let _ = std::fs::remove_file(&journal_file);
    let server = harness().join("servers/py_workflow.py");
    let config = dir.join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            r#"tasks:
{store}  lease: 1s
  poll_interval: 100ms
servers:
  ops:
    command: {python:?}
    args: [{server:?}]
    env: {{WORKFLOW_JOURNAL: {journal:?}}}
workflows:
  deploy:
    task: true
    steps:
      - id: create
        tool: ops__act
        args: {{action: create, id: "${{{{ .inputs.id }}}}-1"}}
      - id: build
        tool: ops__slow
        needs: [create]
        idempotent: true
        args: {{key: "${{{{ .inputs.id }}}}-build", ms: 2500}}
      - id: finish
        tool: ops__act
        needs: [build]
        args: {{action: finish, id: "${{{{ .inputs.id }}}}-3"}}
    output: "${{{{ {{built: .steps.build.result.key, finished: .steps.finish.result.id}} }}}}"
  strict:
    task: true
    steps:
      - id: create
        tool: ops__act
        args: {{action: create, id: s-1}}
        compensate: {{tool: ops__undo, args: {{id: s-1}}}}
      - id: migrate
        tool: ops__slow
        needs: [create]
        args: {{key: s-migrate, ms: 2500}}
"#,
            python = python().display().to_string(),
            server = server.display().to_string(),
            journal = journal_file.display().to_string(),
        ),
    )
    .unwrap();
    let mut gw = Gateway::start_file(&config);
    // `task: true`: a call that does not ask for a task is refused (the tool is task-only).
    let plain = tool_call(&gw.url, &[], "workflows__deploy", json!({"id": "x"})).await;
    assert_eq!(
        plain.body["error"]["code"],
        json!(-32021),
        "{:?}",
        plain.body
    );

    let deploy = call_as_task(&gw.url, None, "workflows__deploy", json!({"id": "d"})).await;
    let deploy = deploy["result"]["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("{deploy}"))
        .to_owned();
    let strict = call_as_task(&gw.url, None, "workflows__strict", json!({})).await;
    let strict = strict["result"]["taskId"].as_str().unwrap().to_owned();
    // Both runs are in their slow step: kill the gateway.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(count(&journal(&journal_file), "start", "d-build") == 1
        && count(&journal(&journal_file), "start", "s-migrate") == 1)
    {
        assert!(
            Instant::now() < deadline,
            "runs did not start: {:?}\n{}",
            journal(&journal_file),
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = gw.proc.child.kill();
    let _ = gw.proc.child.wait();

    let gw = Gateway::start_file(&config);
    let done = settle(&gw.url, None, &deploy, Duration::from_secs(40)).await;
    assert_eq!(
        done["result"]["status"],
        "completed",
        "{done}\n{}",
        gw.logs()
    );
    let result = &done["result"]["result"];
    assert_ne!(result["isError"], json!(true), "{done}");
    assert_eq!(
        result["structuredContent"],
        json!({"built": "d-build", "finished": "d-3"})
    );
    let done = settle(&gw.url, None, &strict, Duration::from_secs(40)).await;
    assert_eq!(done["result"]["status"], "completed", "{done}");
    let result = &done["result"]["result"];
    assert_eq!(result["isError"], json!(true), "{done}");
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("failed at step `migrate`")
            && text.contains("running when the gateway stopped"),
        "{text}"
    );
    assert!(text.contains("`create` undone"), "{text}");

    let j = journal(&journal_file);
    // Finished before the kill: not called again.
    assert_eq!(count(&j, "do", "d-1"), 1, "{j:?}");
    assert_eq!(count(&j, "do", "s-1"), 1, "{j:?}");
    // Idempotent and cut: called again, to its end; the step after it ran once.
    assert_eq!(count(&j, "start", "d-build"), 2, "{j:?}");
    assert_eq!(count(&j, "end", "d-build"), 1, "{j:?}");
    assert_eq!(count(&j, "do", "d-3"), 1, "{j:?}");
    // Not idempotent and cut: never called twice; what succeeded was undone.
    assert_eq!(count(&j, "start", "s-migrate"), 1, "{j:?}");
    assert_eq!(count(&j, "undo", "s-1"), 1, "{j:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_resumes_workflow_runs_from_their_checkpoints_on_sqlite() {
    let dir = scratch_dir("wf-durable-sqlite");
    let store = format!("  path: {:?}\n", dir.join("tasks.db").display().to_string());
    killed_mid_run_finishes_from_its_checkpoint(&dir, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_resumes_workflow_runs_from_their_checkpoints_on_redis() {
    let dir = scratch_dir("wf-durable-redis");
    let prefix = format!("sb-wf-durable-{}-{}:", std::process::id(), free_port());
    let store =
        format!("  store: redis\n  url: redis://127.0.0.1:6379\n  key_prefix: {prefix:?}\n");
    killed_mid_run_finishes_from_its_checkpoint(&dir, &store).await;
}
