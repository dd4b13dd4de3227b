//! Workflows from the command line and the shipped examples: `examples/workflows.yaml` run as
//! a user runs it (its example systems built from the workspace), `switchboard call` of both
//! workflows, `workflow graph` and `workflow list`, `check` naming a step's missing tool, and
//! steps over server-everything and HTTP API tools.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// `examples/workflows.yaml` with its `cargo run -p ops-api` servers replaced by the binary
/// the test build made (the same program, without compiling it again).
fn example_config() -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo().join("examples/workflows.yaml")).unwrap();
    let bin = workspace_bin("ops-api");
    let text = text
        .replace(
            "command: cargo",
            &format!("command: {:?}", bin.display().to_string()),
        )
        .replace(
            r#""run", "--quiet", "--release", "-p", "ops-api", "--", "#,
            "",
        );
    assert!(
        !text
            .lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains("cargo")),
        "{text}"
    );
    tmp_file("workflows-example.yaml", &text)
}

fn sb(args: &[&str], config: &std::path::Path) -> (bool, String, String) {
    let o = Command::new(switchboard())
        .args(args)
        .arg("--config")
        .arg(config)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The last JSON document `switchboard call` printed (its structured result).
fn structured(stdout: &str) -> Value {
    let start = stdout.rfind("\n{").map_or(0, |i| i + 1);
    serde_json::from_str(&stdout[start..]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn the_examples_run_both_patterns_from_the_command_line() {
    let config = example_config();
    // Pattern 3: the report, with growth and efficiency computed from three systems.
    let (ok, out, err) = sb(
        &[
            "call",
            "workflows__executive_report",
            "--args",
            r#"{"period": "2026-Q3"}"#,
        ],
        &config,
    );
    assert!(ok, "{out}\n{err}");
    let v = structured(&out);
    assert_eq!(v["period"], "2026-Q3");
    let (revenue, growth) = (
        v["revenue"].as_f64().unwrap(),
        v["growth_pct"].as_f64().unwrap(),
    );
    assert!(
        revenue >= 1_000_000.0 && (0.0..=30.0).contains(&growth),
        "{v}"
    );
    assert!(v["revenue_per_visit"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["tickets_per_1000_visits"].as_f64().unwrap() > 0.0, "{v}");

    // Pattern 2: a good release goes out and is announced.
    let (ok, out, err) = sb(
        &[
            "call",
            "workflows__deploy_service",
            "--args",
            r#"{"service": "billing", "version": "2.4.1", "environment": "staging"}"#,
        ],
        &config,
    );
    assert!(ok, "{out}\n{err}");
    let v = structured(&out);
    assert_eq!(v["deployment"], "dep-1", "{v}");
    assert_eq!(v["announced"], "msg-2", "{v}");
    // A broken one is rolled back, and the failure announced, last step first.
    let (ok, out, err) = sb(
        &[
            "call",
            "workflows__deploy_service",
            "--args",
            r#"{"service": "billing", "version": "2.4.1-broken", "environment": "production"}"#,
        ],
        &config,
    );
    assert!(!ok, "{out}\n{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("failed at step `health`"), "{all}");
    assert!(
        all.contains("compensation: `release` undone, `started` undone"),
        "{all}"
    );
    // Bad arguments are refused before anything runs.
    let (ok, out, err) = sb(
        &[
            "call",
            "workflows__deploy_service",
            "--args",
            r#"{"service": "billing"}"#,
        ],
        &config,
    );
    assert!(
        !ok && format!("{out}{err}").contains("version"),
        "{out}\n{err}"
    );
}

#[test]
fn graph_list_and_check_show_what_a_workflow_does_and_what_it_lacks() {
    let config = example_config();
    let (ok, out, err) = sb(&["workflow", "graph", "deploy_service"], &config);
    assert!(ok, "{err}");
    assert!(out.contains("flowchart TD"), "{out}");
    assert!(out.contains("s2 --> s3"), "{out}");
    assert!(out.contains("undo: deploy__rollback"), "{out}");
    let (ok, _, err) = sb(&["workflow", "graph", "nonesuch"], &config);
    assert!(
        !ok && err.contains("executive_report, deploy_service"),
        "{err}"
    );
    let (ok, out, _) = sb(&["workflow", "list"], &config);
    assert!(
        ok && out.contains("workflows__executive_report  4 steps"),
        "{out}"
    );

    // A step calling a tool no server lists: `check` (servers started) names it.
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "tool: sales__get_revenue_metrics",
        "tool: sales__get_revenue",
    );
    let typo = tmp_file("workflows-typo.yaml", &text);
    let (_, out, err) = sb(&["check"], &typo);
    assert!(
        out.contains("warn workflow executive_report: step `revenue` calls `sales__get_revenue`, which no server lists"),
        "{out}\n{err}"
    );
}

/// Steps over other kinds of tools: server-everything (TypeScript SDK, stdio) and HTTP API
/// tools the gateway serves itself; a step result that is text where an expression expects
/// JSON fails the run with the key and the expression.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_call_server_everything_and_http_api_tools() {
    let port = free_port();
    let _api = spawn(
        Command::new(python())
            .arg(harness().join("servers/company_http_api.py"))
            .arg(port.to_string()),
    );
    wait_port(port, std::time::Duration::from_secs(30));
    let yaml = format!(
        r#"servers:
{everything}  company:
    base_url: http://127.0.0.1:{port}
    headers: {{X-Api-Key: key-for-the-api}}
    http_tools:
      get_employee_info:
        path: /employees/{{employee_id}}
        input_schema: {{type: object, properties: {{employee_id: {{type: string}}}}, required: [employee_id]}}
workflows:
  greet:
    steps:
      - id: who
        tool: company__get_employee_info
        args: {{employee_id: "${{{{ .inputs.id }}}}"}}
      - id: hello
        tool: everything__echo
        args: {{message: "Hello ${{{{ .steps.who.result.name }}}} (${{{{ .steps.who.result.department }}}})"}}
      - id: sum
        tool: everything__get-sum
        args: {{a: "${{{{ .inputs.n }}}}", b: 2}}
    output: "${{{{ {{greeting: .steps.hello.result, sum: .steps.sum.result}} }}}}"
  misread:
    steps:
      - id: hello
        tool: everything__echo
        args: {{message: hi}}
      - id: use
        tool: everything__echo
        args: {{message: "${{{{ .steps.hello.result.total + 1 }}}}"}}
"#,
        everything = stdio_entry(
            "everything",
            &node(),
            &[&everything_js(), std::path::Path::new("stdio")]
        ),
    );
    let gw = Gateway::start(&yaml);
    let a = tool_call(
        &gw.url,
        &[],
        "workflows__greet",
        serde_json::json!({"id": "E001", "n": 40}),
    )
    .await;
    let r = &a.body["result"];
    assert_ne!(r["isError"], serde_json::json!(true), "{r}");
    assert_eq!(
        r["structuredContent"],
        serde_json::json!({"greeting": "Echo: Hello Ada Lovelace (engineering)",
                           "sum": "The sum of 40 and 2 is 42."})
    );
    let a = tool_call(&gw.url, &[], "workflows__misread", serde_json::json!({})).await;
    let r = &a.body["result"];
    assert_eq!(r["isError"], serde_json::json!(true), "{r}");
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("failed at step `use`"), "{text}");
    assert!(
        text.contains("workflows.misread.steps[1].args.message"),
        "{text}"
    );
    assert!(text.contains(".steps.hello.result.total + 1"), "{text}");
    assert!(text.to_lowercase().contains("index"), "{text}");
}

/// A changed workflow is applied by a reload (SIGHUP) without cutting a run in flight; a
/// reload with a broken workflow is refused and the running ones stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_replaces_workflows_without_cutting_a_run_and_refuses_broken_ones() {
    let bench = stdio_entry("bench", &workspace_bin("bench-upstream"), &[]);
    let version = |v: &str, extra: &str| {
        format!(
            "reload: {{watch: false}}\nservers:\n{bench}workflows:\n  say:\n    steps:\n      - {{id: s, tool: bench__echo, args: {{text: {v}}}}}\n  long:\n    steps:\n      - {{id: wait, tool: bench__slow, args: {{ms: 1500}}}}\n      - {{id: then, tool: bench__echo, needs: [wait], args: {{text: done}}}}\n{extra}"
        )
    };
    let config = tmp_file("wf-reload.yaml", &version("v1", ""));
    let gw = Gateway::start_file(&config);
    let text = |a: &Answer| a.body["result"]["structuredContent"].clone();
    let a = tool_call(&gw.url, &[], "workflows__say", serde_json::json!({})).await;
    assert_eq!(text(&a), serde_json::json!({"s": "v1"}), "{:?}", a.body);

    // A run in flight while the workflows are replaced finishes on the definition it began with.
    let url = gw.url.clone();
    let running = tokio::spawn(async move {
        tool_call(&url, &[], "workflows__long", serde_json::json!({})).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    std::fs::write(&config, version("v2", "")).unwrap();
    let hup = |pid: u32| {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        )
    };
    hup(gw.proc.pid());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let a = tool_call(&gw.url, &[], "workflows__say", serde_json::json!({})).await;
        if text(&a) == serde_json::json!({"s": "v2"}) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not reloaded: {:?}\n{}",
            a.body,
            gw.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let done = running.await.unwrap();
    assert_eq!(
        text(&done),
        serde_json::json!({"wait": "slept 1500 ms", "then": "done"}),
        "{:?}",
        done.body
    );

    // A broken workflow: the reload is refused, naming the key; v2 keeps running.
    std::fs::write(
        &config,
        version(
            "v3",
            "  broken:\n    steps: [{id: a, tool: bench__echo, args: {text: \"${{ .x +\"}}]\n",
        ),
    )
    .unwrap();
    hup(gw.proc.pid());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !gw.logs().contains("workflows.broken.steps[0].args.text") {
        assert!(std::time::Instant::now() < deadline, "{}", gw.logs());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let a = tool_call(&gw.url, &[], "workflows__say", serde_json::json!({})).await;
    assert_eq!(text(&a), serde_json::json!({"s": "v2"}));
}
