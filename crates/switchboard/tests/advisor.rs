//! Decision support: `switchboard roi` and `switchboard matrix` on the command line, the
//! hidden `switchboard advisor` MCP server, and the built-in tools behind the real gateway
//! (`builtin: {advisor: true}`) through `switchboard call` and the Python SDK client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn sb(args: &[&str]) -> Output {
    Command::new(switchboard())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn approx(v: &Value, expected: f64) {
    let got = v
        .as_f64()
        .unwrap_or_else(|| panic!("{v} is not a number (expected {expected})"));
    assert!(
        (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "got {got}, expected {expected}"
    );
}

const ROI_FLAGS: [&str; 6] = [
    "--development-hours",
    "--hourly-rate",
    "--time-saved-per-use",
    "--uses-per-month",
    "--team-size",
    "--months",
];

fn roi(values: [&str; 6], json: bool) -> Output {
    let mut args = vec!["roi"];
    for (flag, value) in ROI_FLAGS.iter().zip(values) {
        args.push(flag);
        args.push(value);
    }
    if json {
        args.push("--json");
    }
    sb(&args)
}

#[test]
fn roi_prints_the_reference_formula() {
    // By hand: cost 80 h × $75 = $6,000; time saved 10 min × 30 uses × 8 people = 40 h a
    // month, worth 40 × $75 = $3,000; over 6 months $18,000; ROI (18,000 − 6,000) / 6,000 =
    // 200 %; break-even 6,000 / 3,000 = 2 months; $36,000 a year: below $50K → marginal.
    let o = roi(["80", "75", "10m", "30", "8", "6"], false);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for expected in [
        "development cost             $6,000.00",
        "time saved per month         40 h",
        "monthly value                $3,000.00",
        "total value (6 months)       $18,000.00",
        "ROI                          200 %",
        "break-even                   2 months",
        "value per year               $36,000.00",
        "Marginal",
        "not above the $50,000 a year",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    let o = roi(["80", "75", "10m", "30", "8", "6"], true);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    approx(&v["inputs"]["time_saved_per_use"], 10.0 / 60.0);
    approx(&v["development_cost"], 6_000.0);
    approx(&v["monthly_time_saved"], 40.0);
    approx(&v["monthly_value"], 3_000.0);
    approx(&v["total_value"], 18_000.0);
    approx(&v["roi_percentage"], 200.0);
    approx(&v["break_even_months"], 2.0);
    approx(&v["annual_value"], 36_000.0);
    assert_eq!(v["verdict"]["decision"], "marginal");
    assert_eq!(v["verdict"]["meets_value_threshold"], false);
    assert_eq!(v["verdict"]["breaks_even_in_period"], true);

    // Cost 160 × $120 = $19,200; 0.5 h × 40 × 12 = 240 h = $28,800 a month; 12 months
    // $345,600; ROI 1,700 %; break-even 19,200 / 28,800 = 2/3 month: worth building.
    let o = roi(["160", "120", "0.5", "40", "12", "12"], true);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    approx(&v["development_cost"], 19_200.0);
    approx(&v["monthly_value"], 28_800.0);
    approx(&v["total_value"], 345_600.0);
    approx(&v["roi_percentage"], 1_700.0);
    approx(&v["break_even_months"], 2.0 / 3.0);
    assert_eq!(v["verdict"]["decision"], "worth_building");

    // Saving nothing: ROI −100 %, break-even null with the reason, never inf/NaN.
    let o = roi(["10", "100", "0.25", "0", "5", "12"], true);
    assert!(o.status.success(), "{}", stderr(&o));
    let raw = stdout(&o);
    let v: Value = serde_json::from_str(&raw).unwrap();
    approx(&v["roi_percentage"], -100.0);
    assert!(v["break_even_months"].is_null(), "{v}");
    let note = v["break_even_note"].as_str().unwrap();
    assert!(
        note.starts_with("never") && note.contains("uses_per_month"),
        "{note}"
    );
    assert_eq!(v["verdict"]["decision"], "not_worth_building");
    assert!(!raw.contains("inf") && !raw.contains("NaN"), "{raw}");
    let o = roi(["10", "100", "0.25", "0", "5", "12"], false);
    assert!(stdout(&o).contains("break-even                   never"));
}

#[test]
fn roi_refuses_bad_input_naming_the_flag() {
    for (values, flag, why) in [
        (
            ["80", "-75", "10m", "30", "8", "6"],
            "--hourly-rate",
            "negative",
        ),
        (
            ["80", "75", "10m", "30", "NaN", "6"],
            "--team-size",
            "finite",
        ),
        (
            ["80", "75", "10 fortnights", "30", "8", "6"],
            "--time-saved-per-use",
            "unit",
        ),
        (
            ["eighty", "75", "10m", "30", "8", "6"],
            "--development-hours",
            "not a number",
        ),
        (
            ["0", "75", "10m", "30", "8", "6"],
            "--development-hours",
            "more than 0",
        ),
        (
            ["80", "75", "10m", "30", "8", "0"],
            "--months",
            "more than 0",
        ),
    ] {
        let o = roi(values, false);
        assert_eq!(o.status.code(), Some(2), "{values:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(flag) && err.contains(why),
            "{values:?}: expected {flag} and {why:?} in: {err}"
        );
        assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    }
    // A missing flag is clap's usage error, naming it.
    let o = sb(&["roi", "--development-hours", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--hourly-rate"), "{}", stderr(&o));
}

#[test]
fn matrix_recommends_with_reasons() {
    let o = sb(&[
        "matrix",
        "--tool-popularity",
        "proprietary",
        "--business-logic",
        "complex",
        "--development-time",
        "1-2-weeks",
        "--maintenance",
        "full-ownership",
        "--competitive-advantage",
        "high",
        "--team-expertise",
        "medium",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for expected in [
        "Recommendation: build a custom MCP server (moderate confidence)",
        "score: build 4, use 0, adapt 2",
        "expected development time: 2-8 weeks",
        "maintenance: Full ownership",
        "2 factors point to adapt: development time (1-2 weeks), team expertise (Medium)",
        "more than the 1-2 weeks you can spend",
        "High ROI scenarios",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    // Aliases and --json; a standard, widely used tool: use it.
    let o = sb(&[
        "decision-matrix",
        "--popularity",
        "widely-used",
        "--business-logic",
        "standard",
        "--development-time",
        "1-day",
        "--maintenance",
        "community",
        "--competitive-advantage",
        "none",
        "--expertise",
        "low",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["recommendation"], "use");
    assert_eq!(v["confidence"], "strong");
    assert_eq!(v["scores"], json!({"build": 0, "use": 6, "adapt": 0}));
    assert_eq!(v["development_time"], "1 day");
    assert_eq!(v["maintenance"], "Community");
    assert_eq!(v["answers"][5]["answer"], "any");
    assert_eq!(v["options"][1]["factors"].as_array().unwrap().len(), 6);

    // A tie (3 build, 3 adapt) goes to the less demanding option.
    let o = sb(&[
        "matrix",
        "--tool-popularity",
        "proprietary",
        "--business-logic",
        "complex",
        "--development-time",
        "2-8-weeks",
        "--maintenance",
        "shared",
        "--competitive-advantage",
        "medium",
        "--team-expertise",
        "medium",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["recommendation"], "adapt", "{v}");
    assert_eq!(v["confidence"], "tie");

    let o = sb(&[
        "matrix",
        "--tool-popularity",
        "proprietary",
        "--business-logic",
        "complex",
        "--development-time",
        "2-8-weeks",
        "--maintenance",
        "nobody",
        "--competitive-advantage",
        "high",
        "--team-expertise",
        "high",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("--maintenance") && err.contains("nobody") && err.contains("full-ownership"),
        "{err}"
    );
}

/// `switchboard advisor` over its stdin/stdout, one JSON-RPC message per line.
#[test]
fn advisor_serves_mcp_on_stdio() {
    let mut child = Command::new(switchboard())
        .arg("advisor")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ask = |line: &str| -> Value {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap()
    };
    let v = ask(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    assert_eq!(v["result"]["protocolVersion"], "2025-03-26", "{v}");
    assert_eq!(v["result"]["serverInfo"]["name"], "switchboard-advisor");
    // The notification gets no answer: the next line read must be the ping's.
    let v = ask(concat!(
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "\n",
        r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#
    ));
    assert_eq!(v, json!({"jsonrpc": "2.0", "id": 2, "result": {}}));
    let v = ask("{\"jsonrpc\":\"2.0\",\"id\":3,");
    assert_eq!(v["error"]["code"], -32700, "{v}");
    let v = ask(r#"{"jsonrpc":"2.0","id":4,"method":"server/discover","params":{}}"#);
    assert_eq!(v["error"]["code"], -32601, "{v}");
    let v = ask(r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#);
    let tools = v["result"]["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    for t in tools {
        assert_eq!(t["annotations"]["readOnlyHint"], true);
        assert_eq!(t["annotations"]["idempotentHint"], true);
        assert_eq!(t["inputSchema"]["type"], "object");
        assert_eq!(t["outputSchema"]["type"], "object");
    }
    let v = ask(
        r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"decision_matrix","arguments":{"tool_popularity":"widely-used","business_logic":"standard","development_time":"1-day","maintenance":"community","competitive_advantage":"none","team_expertise":"any"}}}"#,
    );
    assert_eq!(v["result"]["structuredContent"]["recommendation"], "use");
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("use an existing MCP server")
    );
    let v = ask(
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"decision_matrix","arguments":{"tool_popularity":"famous"}}}"#,
    );
    assert_eq!(v["result"]["isError"], true, "{v}");
    assert!(
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("tool_popularity: `famous` is not one of"),
        "{v}"
    );
    let v = ask(r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"bogus"}}"#);
    assert_eq!(v["error"]["code"], -32602);
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "advisor exits cleanly at end of input");
}

fn builtin_config(extra: &str) -> PathBuf {
    tmp_file(
        "advisor.yaml",
        &format!("builtin:\n  advisor: true\nlog:\n  level: warn\n{extra}"),
    )
}

const ROI_ARGS: &str = r#"{"development_hours":80,"developer_hourly_rate":75,"time_saved_per_use":0.5,"uses_per_month":30,"team_size":8,"months_to_evaluate":6}"#;

#[test]
fn builtin_tools_through_switchboard_call() {
    let cfg = builtin_config("");
    let cfg = cfg.to_str().unwrap();
    let o = sb(&["tools", "--json", "--config", cfg]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tools: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["switchboard__roi", "switchboard__decision_matrix"]);

    // 0.5 h × 30 × 8 = 120 h a month × $75 = $9,000; cost $6,000; 6 months $54,000;
    // ROI 800 %; break-even 0.667 months; $108,000 a year: worth building.
    let o = sb(&[
        "call",
        "switchboard__roi",
        "--args",
        ROI_ARGS,
        "--json",
        "--config",
        cfg,
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &r["structuredContent"];
    approx(&s["development_cost"], 6_000.0);
    approx(&s["monthly_value"], 9_000.0);
    approx(&s["total_value"], 54_000.0);
    approx(&s["roi_percentage"], 800.0);
    approx(&s["break_even_months"], 6_000.0 / 9_000.0);
    approx(&s["annual_value"], 108_000.0);
    assert_eq!(s["verdict"]["decision"], "worth_building");
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("ROI                          800 %")
    );

    // Passes the schema, fails the formula: a tool error naming the field; exit code 1.
    let zero = ROI_ARGS.replace(r#""development_hours":80"#, r#""development_hours":0"#);
    let o = sb(&["call", "switchboard__roi", "--args", &zero, "--config", cfg]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Invalid argument development_hours: must be more than 0"),
        "{}",
        stdout(&o)
    );
    // Against the schema: the gateway's own validation refuses it before the tool, naming
    // the path.
    let negative = ROI_ARGS.replace(r#""team_size":8"#, r#""team_size":-8"#);
    let o = sb(&[
        "call",
        "switchboard__roi",
        "--args",
        &negative,
        "--config",
        cfg,
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("/team_size") && err.contains("-32602"),
        "{err}"
    );
}

#[test]
fn builtin_name_clash_is_refused() {
    let cfg = builtin_config("servers:\n  switchboard:\n    command: /bin/cat\n");
    let o = sb(&["tools", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("servers.switchboard") && err.contains("builtin.advisor"),
        "{err}"
    );
}

fn venv_python() -> PathBuf {
    let p = repo().join("tests/harness/.venv/bin/python");
    assert!(
        p.exists(),
        "the Python MCP SDK is not installed: run `bash .ci/setup`"
    );
    p
}

/// The Python SDK client against `switchboard serve`: lists the tools and calls them. The SDK
/// checks structured content against each tool's output schema itself.
const PY_CLIENT: &str = r#"
import asyncio, json, sys
from mcp import Client

async def main():
    url, roi_args = sys.argv[1], json.loads(sys.argv[2])
    out = {}
    async with Client(url, mode="legacy") as c:
        out["protocol_version"] = c.protocol_version
        tools = await c.list_tools()
        out["tools"] = [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools.tools]
        r = await c.call_tool("switchboard__roi", roi_args)
        out["roi"] = {"isError": bool(r.is_error), "structured": r.structured_content,
                      "text": [x.text for x in r.content]}
        r = await c.call_tool("switchboard__decision_matrix", {
            "tool_popularity": "popular-customized", "business_logic": "some-customization",
            "development_time": "1-2-weeks", "maintenance": "shared",
            "competitive_advantage": "medium", "team_expertise": "high"})
        out["matrix"] = {"isError": bool(r.is_error), "structured": r.structured_content}
        bad = dict(roi_args, months_to_evaluate=0)
        r = await c.call_tool("switchboard__roi", bad)
        out["bad"] = {"isError": bool(r.is_error), "text": [x.text for x in r.content]}
    print(json.dumps(out))

asyncio.run(main())
"#;

#[test]
fn builtin_tools_through_the_gateway_and_a_real_mcp_client() {
    let gw = Gateway::start("builtin:\n  advisor: true\n");
    let out = run_json(
        Command::new(venv_python())
            .args(["-c", PY_CLIENT])
            .arg(&gw.url)
            .arg(ROI_ARGS),
        Duration::from_secs(90),
    );
    assert_eq!(out["protocol_version"], "2025-11-25", "{out}");
    let tools = out["tools"].as_array().unwrap();
    let roi = tools
        .iter()
        .find(|t| t["name"] == "switchboard__roi")
        .unwrap_or_else(|| panic!("no switchboard__roi in {out}\n{}", gw.logs()));
    assert_eq!(roi["annotations"]["readOnlyHint"], true);
    assert_eq!(roi["annotations"]["idempotentHint"], true);
    assert_eq!(
        roi["inputSchema"]["required"].as_array().unwrap().len(),
        6,
        "{roi}"
    );
    assert!(
        roi["outputSchema"]["properties"]["break_even_months"].is_object(),
        "{roi}"
    );
    assert!(
        tools
            .iter()
            .any(|t| t["name"] == "switchboard__decision_matrix")
    );

    assert_eq!(out["roi"]["isError"], false, "{out}");
    let s = &out["roi"]["structured"];
    approx(&s["roi_percentage"], 800.0);
    approx(&s["total_value"], 54_000.0);
    assert!(
        out["roi"]["text"][0]
            .as_str()
            .unwrap()
            .contains("$6,000.00")
    );

    let m = &out["matrix"]["structured"];
    assert_eq!(m["recommendation"], "adapt", "{out}");
    assert_eq!(m["scores"], json!({"build": 1, "use": 0, "adapt": 5}));
    assert_eq!(m["development_time"], "1-2 weeks");
    assert_eq!(m["maintenance"], "Shared");

    assert_eq!(out["bad"]["isError"], true, "{out}");
    let text = out["bad"]["text"][0].as_str().unwrap();
    assert!(text.contains("months_to_evaluate"), "{text}");
}

/// A stateless 2026-07-28 client reaches the session-era advisor through the gateway's bridge.
#[tokio::test]
async fn builtin_tools_for_a_2026_client() {
    let gw = Gateway::start("builtin:\n  advisor: true\n");
    let args: Value = serde_json::from_str(ROI_ARGS).unwrap();
    let a = tool_call(&gw.url, &[], "switchboard__roi", args.clone()).await;
    assert_eq!(a.status, 200, "{}\n{}", a.body, gw.logs());
    let s = &a.body["result"]["structuredContent"];
    approx(&s["roi_percentage"], 800.0);
    assert_eq!(s["verdict"]["decision"], "worth_building", "{}", a.body);

    let mut bad = args;
    bad["time_saved_per_use"] = json!("half an hour");
    let a = tool_call(&gw.url, &[], "switchboard__roi", bad).await;
    assert_eq!(a.body["error"]["code"], -32602, "{}", a.body);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/time_saved_per_use"),
        "{}",
        a.body
    );
}

/// `builtin.advisor` runs the tools inside the gateway: no `switchboard advisor` child.
#[tokio::test]
async fn builtin_tools_run_inside_the_gateway_process() {
    let gw = Gateway::start("builtin:\n  advisor: true\n");
    let args: Value = serde_json::from_str(ROI_ARGS).unwrap();
    let a = tool_call(&gw.url, &[], "switchboard__roi", args).await;
    assert_eq!(a.status, 200, "{}\n{}", a.body, gw.logs());
    let s = &a.body["result"]["structuredContent"];
    approx(&s["roi_percentage"], 800.0);
    approx(&s["break_even_months"], 6_000.0 / 9_000.0);
    assert_eq!(s["verdict"]["decision"], "worth_building", "{}", a.body);

    let kids = children_of(gw.proc.pid());
    assert!(
        !kids
            .iter()
            .any(|(_, cmd)| cmd.iter().skip(1).any(|a| a == "advisor")),
        "the gateway runs `switchboard advisor` as a child: {kids:?}"
    );
}

/// With `builtin.advisor` off, a server of the user's called `switchboard` is theirs: started
/// as its own stdio process, not replaced by the built-in tools.
#[tokio::test]
async fn a_user_server_named_switchboard_is_its_own_process() {
    let gw = Gateway::start(&format!(
        "log:\n  level: warn\nservers:\n{}",
        stdio_entry("switchboard", &workspace_bin("bench-upstream"), &[])
    ));
    let a = tool_call(&gw.url, &[], "switchboard__pid", json!({})).await;
    assert_eq!(a.status, 200, "{}\n{}", a.body, gw.logs());
    let pid: u32 = a.body["result"]["content"][0]["text"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {}", a.body));
    let kids = children_of(gw.proc.pid());
    assert!(
        kids.iter().any(|(k, cmd)| *k == pid
            && cmd.first().is_some_and(|c| c.ends_with("bench-upstream"))),
        "server pid {pid} is not the gateway's bench-upstream child: {kids:?}"
    );
    // Only its own tools: not the built-in ones.
    let a = tool_call(&gw.url, &[], "switchboard__roi", json!({})).await;
    assert_eq!(a.body["error"]["code"], -32602, "{}", a.body);
}
