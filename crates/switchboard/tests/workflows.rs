//! Workflows (`workflows:`) through the gateway, with a real Python SDK upstream
//! (tests/harness/servers/py_workflow.py) and real clients: parallel steps, data between
//! steps, conditions, every `on_error` mode, retries with backoff, compensation order, a
//! denied step, cancellation, progress, elicitation from a step, `for_each`, and the errors a
//! person sees.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn ops_entry() -> String {
    let server = harness().join("servers/py_workflow.py");
    stdio_entry("ops", &python(), &[&server])
}

fn gateway(workflows: &str) -> Gateway {
    Gateway::start(&format!("servers:\n{}workflows:\n{workflows}", ops_entry()))
}

/// The structured result (or the text) of a call answered by the gateway.
fn result(a: &Answer) -> &Value {
    assert_eq!(a.status, 200, "{:?}", a.body);
    &a.body["result"]
}

/// What a tool answered: its structured content, or its text parsed as JSON (the Python
/// SDK answers a `dict` as JSON text).
fn payload(r: &Value) -> Value {
    match r.get("structuredContent") {
        Some(v) => v.clone(),
        None => serde_json::from_str(r["content"][0]["text"].as_str().unwrap_or("null"))
            .unwrap_or(Value::Null),
    }
}

fn meta(a: &Answer) -> &Value {
    &result(a)["_meta"]["io.switchboard/workflow"]
}

fn step<'a>(meta: &'a Value, id: &str) -> &'a Value {
    meta["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {meta}"))
}

async fn journal(url: &str) -> Vec<Value> {
    let a = tool_call(url, &[], "ops__read_journal", json!({})).await;
    payload(result(&a))["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("journal: {:?}", a.body))
        .clone()
}

const REPORT: &str = r#"  executive_report:
    description: Revenue, traffic and support figures for a period, with growth
    input_schema: {type: object, properties: {period: {type: string}}, required: [period]}
    steps:
      - id: traffic
        tool: ops__metric
        args: {system: traffic, period: "${{ .inputs.period }}", delay_ms: 400}
      - id: revenue
        tool: ops__metric
        args: {system: revenue, period: "${{ .inputs.period }}", delay_ms: 400}
      - id: support
        tool: ops__metric
        args: {system: support, period: "${{ .inputs.period }}", delay_ms: 400}
      - id: notify
        if: "${{ .steps.revenue.result.total > 0 }}"
        tool: ops__act
        args: {action: "Revenue ${{ .inputs.period }}: ${{ .steps.revenue.result.total }}", id: "${{ .run.id }}"}
      - id: never
        if: "${{ .steps.support.result.total > 1000 }}"
        tool: ops__act
        args: {action: never, id: never}
    output: "${{ {revenue: .steps.revenue.result.total,
                  growth_pct: ((.steps.revenue.result.total / .steps.revenue.result.previous_total - 1) * 100),
                  tickets: .steps.support.result.total,
                  notified: .steps.notify.status, never: .steps.never.status} }}"
  wrapper:
    steps:
      - id: inner
        tool: workflows__executive_report
        args: {period: "${{ .inputs.period }}"}
    output: "${{ {growth: .steps.inner.result.growth_pct} }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_steps_overlap_and_data_flows_into_conditions_text_and_output() {
    let gw = gateway(REPORT);
    // Listed like any tool, with its input schema.
    let list = modern(&gw.url, &[], "tools/list", None, json!({})).await;
    let tool = list.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "workflows__executive_report")
        .unwrap_or_else(|| panic!("{}", list.body))
        .clone();
    assert_eq!(tool["inputSchema"]["required"], json!(["period"]));
    assert!(tool["description"].as_str().unwrap().contains("growth"));

    let a = tool_call(
        &gw.url,
        &[],
        "workflows__executive_report",
        json!({"period": "2026-Q3"}),
    )
    .await;
    let r = result(&a);
    assert_ne!(r["isError"], json!(true), "{r}");
    let out = &r["structuredContent"];
    assert_eq!(out["revenue"], json!(150000));
    assert_eq!(out["growth_pct"], json!(25.0));
    assert_eq!(out["tickets"], json!(340));
    assert_eq!(out["notified"], json!("succeeded"));
    assert_eq!(out["never"], json!("skipped"));

    // The three fetches ran at the same time: each started before any of them ended, by the
    // upstream's own clock and by the run's record.
    let m = meta(&a);
    let (starts, ends): (Vec<f64>, Vec<f64>) = ["traffic", "revenue", "support"]
        .iter()
        .map(|id| {
            let s = step(m, id);
            (s["startMs"].as_f64().unwrap(), s["endMs"].as_f64().unwrap())
        })
        .unzip();
    let last_start = starts.iter().cloned().fold(f64::MIN, f64::max);
    let first_end = ends.iter().cloned().fold(f64::MAX, f64::min);
    assert!(last_start < first_end, "not parallel: {m}");
    // `notify` waited for `revenue`; its text was interpolated.
    assert!(
        step(m, "notify")["startMs"].as_f64().unwrap()
            >= step(m, "revenue")["endMs"].as_f64().unwrap()
    );
    let entries = journal(&gw.url).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["action"], "Revenue 2026-Q3: 150000");
    assert_eq!(entries[0]["id"], m["run"]);

    // A workflow is a tool like any other: another workflow calls it.
    let a = tool_call(&gw.url, &[], "workflows__wrapper", json!({"period": "Q4"})).await;
    assert_eq!(
        result(&a)["structuredContent"],
        json!({"growth": 25.0}),
        "{:?}",
        a.body
    );
    assert_eq!(journal(&gw.url).await.len(), 2);

    // Arguments are validated against the input schema before anything runs.
    let a = tool_call(&gw.url, &[], "workflows__executive_report", json!({})).await;
    assert_eq!(a.body["error"]["code"], json!(-32602), "{:?}", a.body);
    assert_eq!(journal(&gw.url).await.len(), 2);
}

const MODES: &str = r#"  retrying:
    steps:
      - id: flaky
        tool: ops__flaky
        args: {key: a, failures: 2}
        retry: {attempts: 3, initial_delay: 200ms, backoff: 2.0}
  exhausted:
    steps:
      - id: flaky
        tool: ops__flaky
        args: {key: b, failures: 5}
        on_error: retry
        retry: {attempts: 2, initial_delay: 10ms}
  tolerant:
    steps:
      - id: bad
        tool: ops__fail
        args: {message: "disk full"}
        on_error: continue
      - id: report
        if: "${{ .steps.bad.status == \"failed\" }}"
        tool: ops__act
        args: {action: "report: ${{ .steps.bad.error }}", id: r1}
      - id: dependent
        tool: ops__act
        args: {action: "uses ${{ .steps.bad.result }}", id: d1}
  saga:
    steps:
      - id: create
        tool: ops__act
        args: {action: create, id: x1}
        compensate: {tool: ops__undo, args: {id: "${{ .steps.create.result.id }}"}}
      - id: configure
        tool: ops__act
        needs: [create]
        args: {action: configure, id: x2}
        compensate: {tool: ops__undo, args: {id: "${{ .steps.configure.result.id }}"}}
      - id: deploy
        tool: ops__fail
        needs: [configure]
        args: {message: "health check failed"}
      - id: announce
        tool: ops__act
        needs: [deploy]
        args: {action: announce, id: x3}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_on_error_mode_retries_with_backoff_and_compensation_runs_backwards() {
    let gw = gateway(MODES);
    // retry: two failures, then success on the third call, waiting ~200 then ~400 ms (less
    // up to a quarter of jitter).
    let a = tool_call(&gw.url, &[], "workflows__retrying", json!({})).await;
    let r = result(&a);
    assert_ne!(r["isError"], json!(true), "{r}");
    assert_eq!(r["structuredContent"]["flaky"]["calls"], json!(3));
    assert_eq!(step(meta(&a), "flaky")["calls"], json!(3));
    let times = tool_call(&gw.url, &[], "ops__call_times", json!({"key": "a"})).await;
    let t: Vec<f64> = payload(result(&times))["times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(t.len(), 3);
    assert!(t[1] - t[0] >= 150.0, "first wait {:?}", t[1] - t[0]);
    assert!(t[2] - t[1] >= 300.0, "second wait {:?}", t[2] - t[1]);

    // retry, spent: two calls, then the run fails naming the step and the cause.
    let a = tool_call(&gw.url, &[], "workflows__exhausted", json!({})).await;
    let r = result(&a);
    assert_eq!(r["isError"], json!(true), "{r}");
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("failed at step `flaky` (tool `ops__flaky`)"),
        "{text}"
    );
    assert!(text.contains("failure 2 of 5"), "{text}");
    assert_eq!(step(meta(&a), "flaky")["calls"], json!(2));

    // continue: the failure is seen by a step that asks for it; a step that needed the
    // result is skipped (it says why) instead of getting an undefined value.
    let a = tool_call(&gw.url, &[], "workflows__tolerant", json!({})).await;
    let r = result(&a);
    assert_ne!(r["isError"], json!(true), "{r}");
    let m = meta(&a);
    assert_eq!(step(m, "bad")["status"], "failed");
    assert!(
        step(m, "bad")["error"]
            .as_str()
            .unwrap()
            .contains("disk full")
    );
    assert_eq!(step(m, "report")["status"], "succeeded");
    assert_eq!(step(m, "dependent")["status"], "skipped");
    assert!(
        step(m, "dependent")["error"]
            .as_str()
            .unwrap()
            .contains("`bad` failed"),
        "{m}"
    );
    let entries = journal(&gw.url).await;
    assert!(
        entries
            .iter()
            .any(|e| e["id"] == "r1" && e["action"].as_str().unwrap().contains("disk full")),
        "{entries:?}"
    );
    assert!(!entries.iter().any(|e| e["id"] == "d1"), "{entries:?}");

    // abort: what succeeded is undone, last first; what came after never ran.
    let a = tool_call(&gw.url, &[], "workflows__saga", json!({})).await;
    let r = result(&a);
    assert_eq!(r["isError"], json!(true), "{r}");
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("failed at step `deploy`") && text.contains("health check failed"),
        "{text}"
    );
    assert!(
        text.contains("`configure` undone, `create` undone"),
        "{text}"
    );
    let m = meta(&a);
    assert_eq!(step(m, "announce")["status"], "not_started");
    let ops: Vec<(String, String)> = journal(&gw.url)
        .await
        .iter()
        .filter(|e| e["id"].as_str().unwrap().starts_with('x'))
        .map(|e| {
            (
                e["op"].as_str().unwrap().to_owned(),
                e["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> =
        [("do", "x1"), ("do", "x2"), ("undo", "x2"), ("undo", "x1")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(ops, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_the_caller_may_not_call_fails_the_run_before_anything_runs() {
    let dir = scratch_dir("wf-denied");
    let keys = dir.join("keys.json");
    let audit = dir.join("audit.jsonl");
    let yaml = format!(
        "auth: {{api_keys: {{file: {keys:?}}}}}
roles:
  admin: {{allow: ['*']}}
  reader: {{allow: ['workflows__*', 'ops__metric', 'ops__read_journal']}}
audit: {{sink: jsonl, path: {audit:?}}}
servers:
{}workflows:
  provision:
    steps:
      - id: look
        tool: ops__metric
        args: {{system: traffic, period: now}}
      - id: change
        tool: ops__act
        needs: [look]
        args: {{action: provision, id: p1}}
",
        ops_entry()
    );
    let gw = Gateway::start(&yaml);
    let admin_key = keys_cli(&gw.config, &["create", "--name", "ops", "--role", "admin"]);
    let reader_key = keys_cli(
        &gw.config,
        &["create", "--name", "intern", "--role", "reader"],
    );
    let reader = [("x-api-key", reader_key.as_str())];
    let admin = [("x-api-key", admin_key.as_str())];

    let a = tool_call(&gw.url, &reader, "workflows__provision", json!({})).await;
    let r = result(&a);
    assert_eq!(r["isError"], json!(true), "{r}");
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("step `change` calls `ops__act`: Unknown tool: ops__act"),
        "{text}"
    );
    // Nothing ran: not even the step the reader may call.
    let j = tool_call(&gw.url, &admin, "ops__read_journal", json!({})).await;
    assert_eq!(payload(result(&j))["entries"], json!([]));

    // The admin runs it; each step is audited under the admin, linked to its run.
    let a = tool_call(&gw.url, &admin, "workflows__provision", json!({})).await;
    assert_ne!(result(&a)["isError"], json!(true), "{:?}", a.body);
    let run = meta(&a)["run"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        let records: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let steps: Vec<&Value> = records
            .iter()
            .filter(|r| r["transport"].as_str().is_some_and(|t| t.contains(&run)))
            .collect();
        if steps.len() == 2 {
            assert!(steps.iter().all(|r| r["subject"] == "key:ops"), "{steps:?}");
            let targets: Vec<&str> = steps
                .iter()
                .map(|r| r["target"].as_str().unwrap())
                .collect();
            assert_eq!(targets, ["ops__metric", "ops__act"]);
            assert_eq!(
                steps[1]["transport"],
                format!("workflow:provision/{run}/change")
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "steps not audited: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SLOW: &str = r#"  slow:
    steps:
      - id: quick
        tool: ops__act
        args: {action: create, id: q1}
        compensate: {tool: ops__undo, args: {id: q1}}
      - id: wait
        tool: ops__slow
        needs: [quick]
        args: {key: "${{ .inputs.key }}", ms: 5000}
  bounded:
    timeout: 600ms
    steps:
      - id: wait
        tool: ops__slow
        args: {key: bounded, ms: 5000}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_and_the_run_timeout_cancel_steps_in_flight_and_compensate() {
    let gw = gateway(SLOW);
    // The client goes away (a 2026-07-28 request: closing it cancels it).
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "workflows__slow", "arguments": {"key": "gone"},
                   "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                             "io.modelcontextprotocol/clientCapabilities": {}}}});
    let sent = reqwest::Client::new()
        .post(&gw.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "workflows__slow")
        .timeout(Duration::from_millis(1500))
        .body(body.to_string())
        .send()
        .await;
    assert!(sent.is_err(), "the call should have been cut by the client");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let ops = loop {
        let ops: Vec<(String, String)> = journal(&gw.url)
            .await
            .iter()
            .map(|e| {
                (
                    e["op"].as_str().unwrap().to_owned(),
                    e["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        if ops.iter().any(|(op, _)| op == "undo") || std::time::Instant::now() > deadline {
            break ops;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        ops,
        vec![
            s("do", "q1"),
            s("start", "gone"),
            s("cancelled", "gone"),
            s("undo", "q1")
        ]
    );

    // The run's own timeout: the step is cancelled upstream, the run fails saying so.
    let a = tool_call(&gw.url, &[], "workflows__bounded", json!({})).await;
    let r = result(&a);
    assert_eq!(r["isError"], json!(true), "{r}");
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("did not finish within its timeout of 600ms"),
        "{text}"
    );
    assert_eq!(meta(&a)["status"], "timed_out");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let entries = journal(&gw.url).await;
    assert!(
        entries
            .iter()
            .any(|e| e["op"] == "cancelled" && e["id"] == "bounded"),
        "{entries:?}"
    );
}

const FAN: &str = r#"  fan:
    input_schema: {type: object, properties: {systems: {type: array, items: {type: string}}}}
    steps:
      - id: each
        tool: ops__metric
        for_each: .inputs.systems
        concurrency: 2
        args: {system: "${{ .item }}", period: "p${{ .index }}", delay_ms: 100}
      - id: approval
        tool: ops__approve
        needs: [each]
        args: {what: "${{ .steps.each.result | length }} systems"}
    output: "${{ {totals: [.steps.each.result[].total], periods: [.steps.each.result[].period], by: .steps.approval.result.approved_by} }}"
  broken:
    steps:
      - id: compute
        tool: ops__act
        args: {action: "${{ .inputs.n - \"x\" }}", id: b}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_each_progress_elicitation_through_a_session_client_and_runtime_errors() {
    let gw = gateway(FAN);
    let out = py_client(
        &["--url", &gw.url],
        &[
            (
                "workflows__fan",
                r#"{"systems": ["support", "traffic", "revenue"]}"#,
            ),
            ("workflows__broken", r#"{"n": 1}"#),
        ],
    );
    let fan = call(&out, "workflows__fan");
    assert_eq!(fan["isError"], json!(false), "{fan}");
    let v: Value = serde_json::from_str(fan["text"].as_str().unwrap()).unwrap();
    // Results in the order of the items, whatever order they finished in.
    assert_eq!(v["totals"], json!([340, 12000, 150000]));
    assert_eq!(v["periods"], json!(["p0", "p1", "p2"]));
    // The step's upstream asked the client (elicitation), through the workflow's call.
    assert_eq!(v["by"], json!("Ada"));
    // One progress notification per step, counting up to the number of steps.
    let progress: Vec<(f64, f64)> = fan["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    assert_eq!(progress, vec![(1.0, 2.0), (2.0, 2.0)], "{fan}");

    // A jq runtime error names the step's key and the expression.
    let broken = call(&out, "workflows__broken");
    assert_eq!(broken["isError"], json!(true), "{broken}");
    let text = broken["text"].as_str().unwrap();
    assert!(text.contains("failed at step `compute`"), "{text}");
    assert!(
        text.contains("workflows.broken.steps[0].args.action"),
        "{text}"
    );
    assert!(text.contains(".inputs.n - \"x\""), "{text}");
}
