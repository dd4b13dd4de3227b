//! Upstreams that misbehave: crash mid-call, never answer, print garbage, crash-loop, ignore
//! signals. Each gets a clear JSON-RPC error; the gateway keeps serving everything else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn misbehaving_entry(name: &str, extra: &str) -> String {
    stdio_entry(
        name,
        std::path::Path::new("python3"),
        &[&harness().join("servers/misbehaving.py")],
    ) + extra
}

fn cli_call(gw_config: &std::path::Path, tool: &str) -> (bool, String) {
    let out = Command::new(switchboard())
        .args(["call", tool, "--args", "{}", "--json", "--config"])
        .arg(gw_config)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn crashed_hung_and_noisy_upstreams_fail_clearly_and_recover() {
    let mut yaml = String::from("servers:\n");
    yaml += &misbehaving_entry(
        "bad",
        "    timeout: 2s\n    restart: {initial_backoff: 100ms}\n",
    );
    yaml += &stdio_entry("company", &workspace_bin("company-api"), &[]);
    let gw = Gateway::start(&yaml);
    let calls = [
        ("bad__crash", "{}"),
        ("bad__echo", r#"{"text":"back after the crash"}"#),
        ("bad__hang", "{}"),
        ("bad__noisy", r#"{"text":"despite the noise"}"#),
        ("company__get_employee_info", r#"{"employee_id":"E004"}"#),
    ];
    let started = Instant::now();
    let out = py_client(&["--url", &gw.url], &calls);
    let crash = call(&out, "bad__crash");
    let err = crash["error"]
        .as_str()
        .unwrap_or_else(|| panic!("crash should be an error: {crash}"));
    assert!(
        err.contains("exited") && err.contains("crashing on purpose"),
        "{err}"
    );
    assert_eq!(
        call(&out, "bad__echo")["text"],
        "back after the crash",
        "restart did not recover: {out}"
    );
    let hang = call(&out, "bad__hang")["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(hang.contains("did not answer within 2s"), "{hang}");
    assert_eq!(call(&out, "bad__noisy")["text"], "despite the noise");
    assert!(
        call(&out, "company__get_employee_info")["text"]
            .as_str()
            .unwrap()
            .contains("E004")
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let logs = gw.logs();
    assert!(
        logs.contains("not a JSON-RPC message"),
        "garbage on stdout not reported:\n{logs}"
    );
    assert!(
        logs.contains("misbehaving: crashing on purpose"),
        "stderr not captured:\n{logs}"
    );
}

#[test]
fn a_crash_looping_upstream_is_reported_and_does_not_block_others() {
    let mut yaml = String::from("servers:\n");
    yaml += "  dead:\n    command: python3\n    args: [\"-c\", \"import sys; sys.stderr.write('fatal: no config\\\\n'); sys.exit(1)\"]\n    restart: {initial_backoff: 10ms, max_backoff: 50ms, crash_loop_restarts: 3}\n";
    yaml += &stdio_entry("company", &workspace_bin("company-api"), &[]);
    let cfg = tmp_file("crashloop.yaml", &yaml);
    // `check` names the failing server and its last words, and exits 1.
    let out = Command::new(switchboard())
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("FAIL dead") && text.contains("fatal: no config"),
        "{text}"
    );
    assert!(text.contains("ok   company"), "{text}");

    let gw = Gateway::start(&yaml);
    std::thread::sleep(Duration::from_millis(500));
    let out = py_client(
        &["--url", &gw.url],
        &[("company__get_employee_info", r#"{"employee_id":"E001"}"#)],
    );
    assert!(
        call(&out, "company__get_employee_info")["text"]
            .as_str()
            .unwrap()
            .contains("E001")
    );
    let logs = gw.logs();
    assert!(
        logs.contains("crash-looping"),
        "crash loop not reported:\n{logs}"
    );
}

#[test]
fn stubborn_upstream_is_killed_on_shutdown() {
    // Ignores stdin EOF and SIGTERM; must be SIGKILLed. Writes its pid so we can check.
    let pidfile = tmp_file("stubborn.pid", "");
    let script = tmp_file(
        "stubborn.py",
        &format!(
            r#"import json, os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open({pidfile:?}, "w").write(str(os.getpid()))
for line in sys.stdin:
    m = json.loads(line)
    if m.get("method") == "initialize":
        print(json.dumps({{"jsonrpc": "2.0", "id": m["id"], "result": {{"protocolVersion": "2025-11-25", "capabilities": {{}}, "serverInfo": {{"name": "stubborn", "version": "1"}}}}}}), flush=True)
while True:
    time.sleep(1)
"#,
            pidfile = pidfile.display().to_string()
        ),
    );
    let yaml = format!(
        "servers:\n{}    shutdown_timeout: 300ms\n",
        stdio_entry("stubborn", std::path::Path::new("python3"), &[&script])
    );
    let mut gw = Gateway::start(&yaml);
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let status = gw
        .proc
        .terminate(Duration::from_secs(10))
        .expect("gateway did not stop");
    assert!(status.success(), "{status:?}\n{}", gw.logs());
    std::thread::sleep(Duration::from_millis(200));
    let gone = !std::path::Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "));
    assert!(gone, "upstream {pid} survived shutdown");
    assert!(gw.logs().contains("SIGKILL"), "{}", gw.logs());
}

#[test]
fn shutdown_drains_calls_in_flight() {
    let yaml = format!(
        "http:\n  shutdown_grace: 10s\nservers:\n{}",
        misbehaving_entry("bad", "")
    );
    let mut gw = Gateway::start(&yaml);
    let url = gw.url.clone();
    let slow = std::thread::spawn(move || {
        py_client(&["--url", &url], &[("bad__slow", r#"{"text":"finished"}"#)])
    });
    // Let the call reach the upstream, then ask the gateway to stop.
    std::thread::sleep(Duration::from_millis(2500));
    let status = gw
        .proc
        .terminate(Duration::from_secs(15))
        .expect("gateway did not stop");
    assert!(status.success());
    let out: Value = slow.join().unwrap();
    assert_eq!(
        call(&out, "bad__slow")["text"],
        "finished",
        "{out}\n{}",
        gw.logs()
    );
    let _ = cli_call;
}

/// `notifications/cancelled` from the client reaches the upstream request (with the id the
/// upstream knows), the cancelled request gets no response, and the session goes on.
#[test]
fn client_cancellation_reaches_the_upstream() {
    use std::io::{BufRead, BufReader, Write};
    let cfg = tmp_file(
        "cancel.yaml",
        &format!("servers:\n{}", misbehaving_entry("bad", "")),
    );
    let mut child = Command::new(switchboard())
        .args(["stdio", "--config", cfg.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut send = |s: &str| writeln!(&mut stdin, "{s}").unwrap();
    send(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    send(
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"bad__hang","arguments":{}}}"#,
    );
    std::thread::sleep(Duration::from_millis(500));
    send(
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,"reason":"user pressed stop"}}"#,
    );
    send(r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#);
    let mut got = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        got.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert_eq!(got[0]["id"], 1);
    assert_eq!(
        got[1]["id"], 6,
        "expected the ping answer and nothing for the cancelled call: {got:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !stderr
        .lock()
        .unwrap()
        .contains("misbehaving: cancelled request")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = stderr.lock().unwrap().clone();
    // The upstream saw its own request id (the gateway's), with the reason.
    assert!(
        log.lines()
            .any(|l| l.contains("misbehaving: cancelled request ")
                && l.contains("(cancelled by the client)")),
        "{log}"
    );
    drop(stdin); // end of input: the gateway drains and exits
    let _ = child.wait();
}
