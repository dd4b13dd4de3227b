//! The official MCP conformance suite (2025-11-25 and 2026-07-28 server scenarios), run
//! against the workspace's fixture server directly and through Switchboard (fixture as a stdio
//! upstream and as an HTTP upstream). The gateway must lose no scenario and fail no check the
//! fixture passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Score {
    passed: u32,
    failed: u32,
}

fn suite(url: &str, out: &str) -> BTreeMap<String, Score> {
    suite_for(url, out, "2025-11-25")
}

fn suite_for(url: &str, out: &str, requirements: &str) -> BTreeMap<String, Score> {
    let h = harness();
    let output = Command::new(node())
        .current_dir(&h)
        .arg(h.join("node_modules/@modelcontextprotocol/conformance/dist/index.js"))
        .args([
            "server",
            "--url",
            url,
            "--requirements",
            requirements,
            "-o",
            out,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let mut scores = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("✓ ").or_else(|| line.strip_prefix("✗ ")) else {
            continue;
        };
        let Some((name, counts)) = rest.split_once(": ") else {
            continue;
        };
        let nums: Vec<u32> = counts
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [passed, failed, ..] = nums[..] {
            scores.insert(name.to_owned(), Score { passed, failed });
        }
    }
    assert!(
        scores.len() >= 25,
        "suite did not run properly against {url}:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    scores
}

fn out_dir(name: &str) -> String {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("conformance-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.display().to_string()
}

fn total(s: &BTreeMap<String, Score>) -> (usize, u32, u32) {
    let ok = s.values().filter(|v| v.failed == 0).count();
    (
        ok,
        s.values().map(|v| v.passed).sum(),
        s.values().map(|v| v.failed).sum(),
    )
}

#[test]
fn gateway_loses_no_conformance_scenario() {
    let (_fixture, fixture_url) = fixture_http();
    let direct = suite(&fixture_url, &out_dir("direct"));

    let stdio_gw = Gateway::start(&format!(
        "federation: {{prefix: none}}\nservers:\n{}",
        stdio_entry("conf", &workspace_bin("conformance-server"), &[])
    ));
    let via_stdio = suite(&stdio_gw.url, &out_dir("gateway-stdio"));

    let http_gw = Gateway::start(&format!(
        "federation: {{prefix: none}}\nservers:\n  conf:\n    url: {fixture_url}\n"
    ));
    let via_http = suite(&http_gw.url, &out_dir("gateway-http"));

    // With streamed answers, the suite's SSE checks (priming event, retry) apply too.
    let sse_gw = Gateway::start(&format!(
        "http: {{response_mode: sse}}\nfederation: {{prefix: none}}\nservers:\n  conf:\n    url: {fixture_url}\n"
    ));
    let via_sse = suite(&sse_gw.url, &out_dir("gateway-sse"));

    for (label, run) in [
        ("direct", &direct),
        ("gateway, stdio upstream", &via_stdio),
        ("gateway, HTTP upstream", &via_http),
        ("gateway, SSE answers", &via_sse),
    ] {
        let (ok, passed, failed) = total(run);
        println!(
            "{label:<26} {ok}/{} scenarios clean, {passed} checks passed, {failed} failed",
            run.len()
        );
    }
    for (name, d) in &direct {
        for (label, run) in [
            ("stdio upstream", &via_stdio),
            ("HTTP upstream", &via_http),
            ("SSE answers", &via_sse),
        ] {
            let g = run
                .get(name)
                .unwrap_or_else(|| panic!("scenario {name} missing through the gateway ({label})"));
            assert!(
                g.failed <= d.failed,
                "scenario {name}: {} failures through the gateway ({label}) vs {} direct\n{}",
                g.failed,
                d.failed,
                stdio_gw.logs()
            );
        }
    }
    assert_eq!(direct.len(), via_stdio.len());
    assert_eq!(direct.len(), via_http.len());
    assert_eq!(direct.len(), via_sse.len());
    // Streamed answers carry priming events and retry: the SSE checks pass, not just apply.
    assert!(
        via_sse["server-sse-multiple-streams"].passed
            >= direct["server-sse-multiple-streams"].passed
    );
    assert!(
        via_sse["server-sse-polling"].passed >= 2,
        "{:?}",
        via_sse["server-sse-polling"]
    );
    assert_eq!(
        total(&direct).2,
        0,
        "the fixture itself fails checks: {direct:?}"
    );
}

/// Protocol 2026-07-28 (`--requirements 2026-07-28`): the fixture directly, and through the
/// gateway with the fixture as a stdio upstream and as an HTTP upstream (both dual-era: the
/// gateway relays modern requests statelessly, wrapping `requestState`, routing tasks and
/// forwarding `Mcp-Param-*` headers). No scenario may be lost and no check fail through it.
#[test]
fn modern_clients_through_the_gateway() {
    let (_fixture, fixture_url) = fixture_http();
    let direct = suite_for(&fixture_url, &out_dir("direct-2026"), "2026-07-28");
    let stdio_gw = Gateway::start(&format!(
        "federation: {{prefix: none}}\nservers:\n{}",
        stdio_entry("conf", &workspace_bin("conformance-server"), &[])
    ));
    let via_stdio = suite_for(&stdio_gw.url, &out_dir("gateway-2026-stdio"), "2026-07-28");
    let http_gw = Gateway::start(&format!(
        "federation: {{prefix: none}}\nservers:\n  conf:\n    url: {fixture_url}\n"
    ));
    let via_http = suite_for(&http_gw.url, &out_dir("gateway-2026-http"), "2026-07-28");
    for (label, run) in [
        ("direct", &direct),
        ("gateway, stdio upstream", &via_stdio),
        ("gateway, HTTP upstream", &via_http),
    ] {
        let (ok, passed, failed) = total(run);
        println!(
            "2026-07-28 {label:<24} {ok}/{} scenarios clean, {passed} checks passed, {failed} failed",
            run.len()
        );
    }
    assert_eq!(
        total(&direct).2,
        0,
        "the fixture itself fails checks: {direct:?}"
    );
    for (label, run, gw) in [
        ("stdio upstream", &via_stdio, &stdio_gw),
        ("HTTP upstream", &via_http, &http_gw),
    ] {
        assert_eq!(direct.len(), run.len(), "{label}: {run:?}");
        for (name, d) in &direct {
            let g = run
                .get(name)
                .unwrap_or_else(|| panic!("scenario {name} missing through the gateway ({label})"));
            assert!(
                // (`server-sse-streams-functional` is only informational when the gateway
                // answers a list with plain JSON, so a check can go uncounted, never fail.)
                g.failed == 0 && g.passed + 1 >= d.passed,
                "scenario {name} through the gateway ({label}): {g:?}, direct {d:?}\n{}",
                gw.logs()
            );
        }
    }
}

/// The suite's task scenarios (2026-07-28 tasks extension) against tasks the *gateway* runs:
/// the fixture serves its task tools as plain calls (`--sync-tasks`, no task support of its
/// own, input asked within the call) and the gateway's `tasks:` rules turn them into durable
/// tasks. Every task scenario must pass but `tasks-mrtr-composition`, whose tool gathers input
/// by `input_required` rounds *before* becoming a task — a gateway-run task is created before
/// the upstream is called, so its input comes through the task instead (documented in
/// docs/config.md).
#[test]
fn gateway_run_tasks_pass_the_task_scenarios() {
    let (_fixture, fixture_url) = fixture_http_with(&["--sync-tasks"]);
    let dir = scratch_dir("conformance-gateway-tasks");
    let gw = Gateway::start(&format!(
        "federation: {{prefix: none}}\ntasks:\n  path: \"{}\"\n  poll_interval: 100ms\n  tools:\n    \"slow_compute\": {{mode: optional}}\n    \"failing_job\": {{mode: required}}\n    \"protocol_error_job\": {{mode: required}}\n    \"confirm_delete\": {{mode: required}}\n    \"multi_input\": {{mode: required}}\n    \"test_tool_with_task\": {{mode: required}}\nservers:\n  conf:\n    url: {fixture_url}\n",
        dir.join("tasks.db").display()
    ));
    let run = suite_for(&gw.url, &out_dir("gateway-run-tasks"), "2026-07-28");
    let tasks: Vec<(&String, &Score)> = run
        .iter()
        .filter(|(n, _)| n.starts_with("tasks-"))
        .collect();
    println!("gateway-run tasks: {tasks:?}");
    assert!(tasks.len() >= 9, "task scenarios missing: {run:?}");
    for (name, score) in tasks {
        if name == "tasks-mrtr-composition" {
            continue;
        }
        assert_eq!(score.failed, 0, "{name}: {score:?}\n{}", gw.logs());
    }
    for key in [
        "tasks-lifecycle",
        "tasks-mrtr-input",
        "tasks-dispatch-and-envelope",
    ] {
        assert!(run[key].passed >= 4, "{key}: {:?}", run[key]);
    }
}
