//! The command line as a newcomer uses it: help, schema, check, import-claude, tools, call;
//! and every example config in the repository validates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Output};

use common::*;

fn sb(args: &[&str]) -> Output {
    Command::new(switchboard())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn every_command_has_useful_help() {
    for cmd in [
        "serve",
        "stdio",
        "check",
        "tools",
        "call",
        "schema",
        "import-claude",
        "load",
    ] {
        let o = sb(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd} --help: {}", text(&o));
        assert!(
            text(&o).contains("Usage: switchboard"),
            "{cmd}: {}",
            text(&o)
        );
    }
    let o = sb(&["--help"]);
    assert!(
        text(&o).contains("examples/quickstart.yaml"),
        "{}",
        text(&o)
    );
}

#[test]
fn schema_is_json_and_strict() {
    let o = sb(&["schema"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["additionalProperties"], false);
    assert!(v["$defs"]["ServerConfig"]["properties"]["url"].is_object());
}

#[test]
fn example_configs_validate() {
    let dir = repo().join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            // Examples read secrets from the environment, as real configs should.
            let o = Command::new(switchboard())
                .args(["check", "--offline", "--config", p.to_str().unwrap()])
                .env("GITHUB_TOKEN", "test-token")
                .env("SEARCH_TOKEN", "test-token")
                .output()
                .unwrap();
            assert!(o.status.success(), "{}: {}", p.display(), text(&o));
            n += 1;
        }
    }
    assert!(n >= 2, "no example configs found in {}", dir.display());
}

#[test]
fn check_reports_all_problems_with_file_key_and_fix() {
    let cfg = tmp_file(
        "bad.yaml",
        "http:\n  listn: 1\nservers:\n  a:\n    comand: x\n  b:\n    command: y\n    url: http://z\n",
    );
    let o = sb(&["check", "--offline", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains(cfg.file_name().unwrap().to_str().unwrap()),
        "{t}"
    );
    assert!(
        t.contains("http.listn: unknown key (fix: did you mean `listen`?)"),
        "{t}"
    );
    assert!(
        t.contains("servers.a.comand: unknown key (fix: did you mean `command`?)"),
        "{t}"
    );
    let o = sb(&["check", "--config", "/nonexistent/switchboard.yaml"]);
    assert!(
        !o.status.success()
            && text(&o).contains("cannot read config file /nonexistent/switchboard.yaml"),
        "{}",
        text(&o)
    );
}

#[test]
fn import_claude_then_run_the_imported_config() {
    let company = workspace_bin("company-api");
    let claude = tmp_file(
        "claude_desktop_config.json",
        &serde_json::json!({"mcpServers": {"company": {"command": company, "args": [], "env": {"LOG": "1"}}}, "globalShortcut": "Ctrl+Space"}).to_string(),
    );
    let out = tmp_file("imported.yaml", "");
    let o = sb(&[
        "import-claude",
        claude.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = sb(&["check", "--config", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ok   company"), "{}", text(&o));

    let o = sb(&["tools", "--config", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("company__get_employee_info"),
        "{}",
        text(&o)
    );

    let o = sb(&[
        "call",
        "company__update_project_status",
        "--args",
        r#"{"project_id":"P003","status":"blocked"}"#,
        "--config",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("blocked"), "{}", text(&o));
    // A tool error result sets the exit code; so does an unknown tool.
    let o = sb(&[
        "call",
        "company__get_employee_info",
        "--args",
        r#"{"employee_id":"NOPE"}"#,
        "--config",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    let o = sb(&["call", "company__nope", "--config", out.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("Unknown tool"),
        "{}",
        text(&o)
    );
    let o = sb(&[
        "call",
        "company__get_employee_info",
        "--args",
        "[1]",
        "--config",
        out.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && text(&o).contains("JSON object"),
        "{}",
        text(&o)
    );
}

#[test]
fn stdio_mode_answers_garbage_with_errors_and_keeps_going() {
    use std::io::Write;
    let cfg = tmp_file(
        "stdio.yaml",
        &format!(
            "servers:\n{}",
            stdio_entry("company", &workspace_bin("company-api"), &[])
        ),
    );
    let mut child = Command::new(switchboard())
        .args(["stdio", "--config", cfg.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#).unwrap();
    writeln!(stdin, "this is not json").unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","id":2,"method":"bogus/method"}}"#
    )
    .unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"company__get_employee_info","arguments":{{"employee_id":"E005"}}}}}}"#).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    let by_id = |id: serde_json::Value| {
        lines
            .iter()
            .find(|l| l["id"] == id)
            .unwrap_or_else(|| panic!("no answer for {id}: {lines:?}"))
    };
    assert_eq!(
        by_id(1.into())["result"]["serverInfo"]["name"],
        "switchboard"
    );
    assert_eq!(by_id(serde_json::Value::Null)["error"]["code"], -32700);
    assert_eq!(by_id(2.into())["error"]["code"], -32601);
    assert!(
        by_id(3.into())["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("E005")
    );
}

/// Over stdio, a 2026-07-28 client's `subscriptions/listen` is acknowledged, gets tagged list
/// changes, ends with `notifications/cancelled`, and the client never gets the legacy
/// session's untagged notifications.
#[test]
fn stdio_modern_listen_until_cancelled() {
    use std::io::{BufRead, BufReader, Write};
    use std::time::Duration;
    let cfg = tmp_file(
        "stdio-listen.yaml",
        &format!(
            "federation: {{prefix: none}}\nservers:\n{}",
            stdio_entry("conf", &workspace_bin("conformance-server"), &[])
        ),
    );
    let mut child = Command::new(switchboard())
        .args(["stdio", "--config", cfg.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    let trigger = |id: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"test_trigger_tool_change","arguments":{{}},{meta}}}}}"#
        )
    };
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":9,"method":"subscriptions/listen","params":{{"notifications":{{"toolsListChanged":true}},{meta}}}}}"#).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    writeln!(stdin, "{}", trigger(10)).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":9}}}}"#
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    writeln!(stdin, "{}", trigger(11)).unwrap();
    std::thread::sleep(Duration::from_millis(700));
    drop(stdin);
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    let _ = child.wait();
    let all = lines.join("\n");
    assert!(
        lines[0].contains("notifications/subscriptions/acknowledged")
            && lines[0].contains(r#"subscriptionId":9"#),
        "{all}"
    );
    let changes: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("tools/list_changed"))
        .collect();
    assert_eq!(
        changes.len(),
        1,
        "one tagged change before the cancel, none after, none untagged: {all}"
    );
    assert!(
        changes[0].contains(r#""io.modelcontextprotocol/subscriptionId":9"#),
        "{all}"
    );
    assert!(
        all.contains(r#""id":10"#) && all.contains(r#""id":11"#),
        "{all}"
    );
}

/// `switchboard load` against the example server over stdio and through a gateway over HTTP:
/// every call counted, the JSON report consistent, thresholds deciding the exit code, and
/// failures broken down by kind.
#[test]
fn load_reports_and_thresholds_decide_the_exit_code() {
    let company = workspace_bin("company-api");
    let company = company.to_str().unwrap();
    let json = |o: &Output| -> serde_json::Value {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
    };
    let o = sb(&[
        "load",
        "--tool",
        "get_employee_info",
        "--args",
        r#"{"employee_id":"E001"}"#,
        "-c",
        "4",
        "-n",
        "200",
        "--warmup",
        "20",
        "--json",
        "--min-success",
        "95",
        "--min-rps",
        "1",
        "--",
        company,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let r = json(&o);
    assert_eq!(r["requests"], 200, "{r}");
    assert_eq!(r["ok"], 200, "{r}");
    assert_eq!(r["success_percent"], 100.0, "{r}");
    let l = &r["latency_ms"];
    assert!(l["p50"].as_f64().unwrap() > 0.0, "{r}");
    assert!(
        l["p50"].as_f64() <= l["p99"].as_f64() && l["p99"].as_f64() <= l["max"].as_f64(),
        "{r}"
    );
    assert!(r["load_cpu_us_per_call"].as_f64().unwrap() > 0.0, "{r}");

    // Through the gateway over HTTP, with a mix: an unknown tool fails a third of the calls.
    let gw = Gateway::start(&format!(
        "servers:\n{}",
        stdio_entry("company", &workspace_bin("company-api"), &[])
    ));
    let mix = tmp_file(
        "mix.json",
        r#"[{"tool": "company__get_employee_info", "args": {"employee_id": "E001"}, "weight": 2},
            {"tool": "company__no_such_tool", "weight": 1}]"#,
    );
    let o = sb(&[
        "load",
        "--url",
        &gw.url,
        "--mix",
        mix.to_str().unwrap(),
        "-c",
        "6",
        "-n",
        "300",
        "--json",
        "--min-success",
        "95",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "below --min-success must fail: {}",
        text(&o)
    );
    let r = json(&o);
    assert_eq!(r["requests"], 300, "{r}");
    assert_eq!(r["ok"], 200, "{r}");
    assert_eq!(r["errors"][0]["count"], 100, "{r}");
    assert!(
        r["errors"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("company__no_such_tool: JSON-RPC"),
        "{r}"
    );
    assert_eq!(r["thresholds_failed"].as_array().unwrap().len(), 1, "{r}");

    // Both eras over the lean HTTP driver: a session, and stateless 2026-07-28 requests.
    for (era, expect) in [("legacy", "session"), ("modern", "2026-07-28 stateless")] {
        let o = sb(&[
            "load",
            "--url",
            &gw.url,
            "--protocol",
            era,
            "--tool",
            "company__get_employee_info",
            "--args",
            r#"{"employee_id":"E002"}"#,
            "-c",
            "4",
            "-n",
            "100",
            "--json",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let r = json(&o);
        assert_eq!(r["ok"], 100, "{r}");
        assert!(r["protocol"].as_str().unwrap().ends_with(expect), "{r}");
    }

    // Bad input is named, not a panic.
    let o = sb(&["load", "--tool", "x", "--args", "[1]", "--url", &gw.url]);
    assert!(
        !o.status.success() && text(&o).contains("must be a JSON object"),
        "{}",
        text(&o)
    );
    let o = sb(&["load", "--tool", "x"]);
    assert!(
        !o.status.success() && text(&o).contains("say what to load"),
        "{}",
        text(&o)
    );
}
